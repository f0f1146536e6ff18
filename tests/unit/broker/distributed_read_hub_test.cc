// DistributedRead against a real cityhub process as the context source: the answers of an
// actual NGSI-LD broker — its entity rendering, NGSILD-Results-Count, 404 ProblemDetails,
// NGSILD-Tenant and system attributes — are what the merge must understand (GS CIM 009 §4.3.6),
// and the requests the hub forwards (Link, Via, tenant, expanded names) must be ones a broker
// accepts.
#include "broker/distributed_read.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "../net/loopback_server.h"
#include "broker/registration_service.h"
#include "net/http_client.h"
#include "store/rocksdb/rocksdb_store.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kVocab(ngsild::kDefaultVocab);

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

unsigned short FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A `cityhub serve` child process on a free loopback port with its own data directory.
class SourceHub {
 public:
  SourceHub() : port_(FreePort()), dir_(std::filesystem::temp_directory_path() / ("fedcore-hub-" + std::to_string(port_))) {
    std::filesystem::create_directories(dir_);
    const std::string listen = "127.0.0.1:" + std::to_string(port_);
    const std::string data = dir_.string();
    const std::string log = (dir_ / "hub.log").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* out = std::freopen(log.c_str(), "w", stdout);
      (void)out;
      ::dup2(::fileno(stdout), STDERR_FILENO);
      ::execl(CITYHUB_BIN, CITYHUB_BIN, "serve", "--listen", listen.c_str(), "--data-dir", data.c_str(),
              "--remote-contexts", "false", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~SourceHub() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  net::HttpOutcome Send(std::string method, const std::string& path, std::string body = "", std::string tenant = "") {
    net::HttpRequest req;
    req.method = std::move(method);
    req.url = url() + path;
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    if (!tenant.empty()) req.headers.emplace_back("NGSILD-Tenant", tenant);
    req.body = std::move(body);
    req.timeout = 5s;
    auto promise = std::make_shared<std::promise<net::HttpOutcome>>();
    auto done = promise->get_future();
    client_.Send(std::move(req), [promise](net::HttpOutcome o) { promise->set_value(std::move(o)); });
    return done.get();
  }
  bool WaitReady() {
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
      net::HttpOutcome o = Send("GET", "/health");
      if (o.ok && o.response.status == 200) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

 private:
  unsigned short port_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  net::HttpClient client_{[] {
    net::HttpClientOptions o;
    o.addresses = testing::LoopbackPolicy();
    return o;
  }()};
};

class DistributedReadHubTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    hub_ = new SourceHub();
    ASSERT_TRUE(hub_->WaitReady()) << "the source hub did not start";
    auto create = [](std::string body, std::string tenant = "") {
      net::HttpOutcome o = hub_->Send("POST", "/ngsi-ld/v1/entities", std::move(body), std::move(tenant));
      ASSERT_TRUE(o.ok) << o.error;
      ASSERT_EQ(o.response.status, 201u) << o.response.body;
    };
    create(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","fuel":{"type":"Property","value":40},
               "speed":{"type":"Property","value":80,"observedAt":"2026-01-01T12:00:00Z"}})");
    create(R"({"id":"urn:ngsi-ld:Car:2","type":"Car","speed":{"type":"Property","value":30}})");
    create(R"({"id":"urn:ngsi-ld:Car:3","type":"Car"})");
    create(R"({"id":"urn:ngsi-ld:Bus:1","type":"Bus"})");
    create(R"({"id":"urn:ngsi-ld:Car:7","type":"Car","plate":{"type":"Property","value":"부산12가3456"}})", "busan");
  }
  static void TearDownTestSuite() {
    delete hub_;
    hub_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(resolver_.Init().ok()); }

  DistributedCall Call() {
    DistributedCall c;
    c.alias = "hub-a";
    c.resolve_context = [this](std::string_view url) -> Result<ngsild::ContextPtr> {
      if (url.empty()) return resolver_.Core();
      return resolver_.ResolveUrl(url);
    };
    return c;
  }
  static ContextSource Source(std::string tenant = "") {
    ContextSource s;
    s.registration_id = "urn:ngsi-ld:ContextSourceRegistration:hub-b";
    s.endpoint = hub_->url();
    s.tenant = std::move(tenant);
    return s;
  }
  ngsild::Entity Local(std::string_view text) {
    auto e = ngsild::ParseRenderedEntity(json::parse(text).as_object(), *resolver_.Core(), {});
    EXPECT_TRUE(e.ok()) << e.status().message();
    return *e;
  }
  static std::string Value(const ngsild::Entity& e, std::string_view term) {
    auto it = e.attrs.find(kVocab + std::string(term));
    if (it == e.attrs.end()) return "<none>";
    return json::serialize(it->second[0].at("value"));
  }

  static SourceHub* hub_;
  ngsild::ContextResolver resolver_{[] {
                                      ngsild::ContextResolverOptions o;
                                      o.allow_remote_fetch = false;
                                      return o;
                                    }(),
                                    {}};
  ContextSourceClient client_{[] {
    ContextSourceClientOptions o;
    o.addresses = testing::LoopbackPolicy();
    return o;
  }()};
  DistributedRead read_{client_};
};

SourceHub* DistributedReadHubTest::hub_ = nullptr;

// §5.7.1 with an inclusive registration: the hub's entity and the source's are one answer; the
// source's newer observation of `speed` wins over the hub's older one.
TEST_F(DistributedReadHubTest, RetrieveMergesWithARealBroker) {
  DistributedRead::EntityAnswer answer = read_.RetrieveEntity(
      Local(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":50,"observedAt":"2026-01-01T08:00:00Z"},
               "colour":{"type":"Property","value":"blue"}})"),
      "urn:ngsi-ld:Car:1", "options=sysAttrs", {Source()}, Call());
  ASSERT_TRUE(answer.warnings.empty()) << answer.warnings[0].reason;
  ASSERT_TRUE(answer.entity.has_value());
  EXPECT_EQ(Value(*answer.entity, "speed"), "80");
  EXPECT_EQ(Value(*answer.entity, "fuel"), "40");
  EXPECT_EQ(Value(*answer.entity, "colour"), "\"blue\"");
  EXPECT_GT(answer.entity->attrs.at(kVocab + "fuel")[0].at("modifiedAt").as_int64(), 0)
      << "the source's modifiedAt (sysAttrs) is kept";
  // A real broker's 404 ProblemDetails means "not held there", not a failure.
  DistributedRead::EntityAnswer missing =
      read_.RetrieveEntity(std::nullopt, "urn:ngsi-ld:Car:404", "", {Source()}, Call());
  EXPECT_FALSE(missing.entity.has_value());
  EXPECT_TRUE(missing.warnings.empty());
}

// §5.7.2: the union of the hub's and the source's matches, paged, with the broker's
// NGSILD-Results-Count.
TEST_F(DistributedReadHubTest, QueryUnitesWithARealBrokerAndCounts) {
  const std::string query = EncodeQuery({{"type", kVocab + "Car"}});
  DistributedRead::QueryAnswer answer = read_.QueryEntities(
      {Local(R"({"id":"urn:ngsi-ld:Car:0","type":"Car"})"), Local(R"({"id":"urn:ngsi-ld:Car:2","type":"Car","fuel":{"type":"Property","value":5}})")},
      2, query, 0, 3, true, {Source()}, Call());
  ASSERT_TRUE(answer.warnings.empty()) << answer.warnings[0].reason;
  ASSERT_EQ(answer.entities.size(), 3u);
  EXPECT_EQ(answer.entities[0].id, "urn:ngsi-ld:Car:0");
  EXPECT_EQ(answer.entities[1].id, "urn:ngsi-ld:Car:1");
  EXPECT_EQ(answer.entities[2].id, "urn:ngsi-ld:Car:2");
  EXPECT_EQ(Value(answer.entities[2], "speed"), "30");
  EXPECT_EQ(Value(answer.entities[2], "fuel"), "5");
  ASSERT_TRUE(answer.total.has_value());
  EXPECT_EQ(*answer.total, 4u) << "Car:0..3, Car:2 counted once; the Bus is not a Car";
}

// A registration covering only `speed`: the real broker is asked for that attribute by its
// expanded name and returns only it.
TEST_F(DistributedReadHubTest, ASourceIsAskedOnlyForTheAttributesItsRegistrationCovers) {
  ContextSource speed_only = Source();
  speed_only.attributes = {kVocab + "speed"};
  ContextSourceRequest selection;
  selection.entity_types = {kVocab + "Car"};
  DistributedCall call = Call();
  call.selection = &selection;
  DistributedRead::QueryAnswer answer = read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {speed_only}, call);
  ASSERT_TRUE(answer.warnings.empty()) << answer.warnings[0].reason;
  ASSERT_EQ(answer.entities.size(), 2u) << "Car:1 and Car:2 have speed";
  EXPECT_EQ(Value(answer.entities[0], "speed"), "80");
  EXPECT_EQ(Value(answer.entities[0], "fuel"), "<none>");
}

// §4.14 / §6.3.14: the registration's tenant is the one asked at the source.
TEST_F(DistributedReadHubTest, TheRegistrationsTenantIsAskedAtTheSource) {
  const std::string query = EncodeQuery({{"type", kVocab + "Car"}});
  DistributedRead::QueryAnswer busan = read_.QueryEntities({}, std::nullopt, query, 0, 10, false, {Source("busan")}, Call());
  ASSERT_TRUE(busan.warnings.empty()) << busan.warnings[0].reason;
  ASSERT_EQ(busan.entities.size(), 1u);
  EXPECT_EQ(busan.entities[0].id, "urn:ngsi-ld:Car:7");
  EXPECT_EQ(Value(busan.entities[0], "plate"), "\"부산12가3456\"");
  // A tenant the source does not have is its error, reported as a warning.
  DistributedRead::QueryAnswer none = read_.QueryEntities({}, std::nullopt, query, 0, 10, false, {Source("nowhere")}, Call());
  EXPECT_TRUE(none.entities.empty());
  ASSERT_EQ(none.warnings.size(), 1u);
  EXPECT_EQ(none.warnings[0].reason, "answered HTTP 404");
}

// §5.7.5/§5.7.8: discovery against a real broker.
TEST_F(DistributedReadHubTest, DiscoveryUnitesWithARealBroker) {
  DistributedRead::JsonAnswer types = read_.Discovery(json::array{"Tram"}, "/types", "", false, {Source()}, Call());
  ASSERT_TRUE(types.warnings.empty()) << types.warnings[0].reason;
  EXPECT_EQ(json::serialize(types.items), R"(["Bus","Car","Tram"])");
  DistributedRead::JsonAnswer attrs = read_.Discovery(json::array{"colour"}, "/attributes", "", false, {Source()}, Call());
  ASSERT_TRUE(attrs.warnings.empty()) << attrs.warnings[0].reason;
  EXPECT_EQ(json::serialize(attrs.items), R"(["colour","fuel","speed"])");
}

// The whole read path as the API will run it: a registration (§5.9.2) held by the hub's
// RegistrationService, matched for the request (§4.3.6.3), and the matched source asked and
// merged. The registration covers only `fuel` of Cars, so only that comes from the source; a
// request whose Via names the source's contextSourceAlias does not go there again (§6.3.18).
TEST_F(DistributedReadHubTest, ARegistrationMatchedByTheDirectoryIsAskedAndMerged) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("fedcore-registrations-" + std::to_string(::getpid()));
  store::RocksDbOptions so;
  so.data_dir = dir.string();
  so.block_cache_bytes = 8 << 20;
  so.write_buffer_bytes = 4 << 20;
  auto opened = store::OpenRocksDbStore(so);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  std::unique_ptr<store::Store> store = std::move(*opened);
  {
    RegistrationService registrations(*store);
    const std::string payload = R"({"id":"urn:ngsi-ld:ContextSourceRegistration:hub-b","type":"ContextSourceRegistration",
        "information":[{"entities":[{"type":"Car"}],"propertyNames":["fuel"]}],
        "contextSourceAlias":"hub-b","endpoint":")" + hub_->url() + R"("})";
    auto created = registrations.Create("", json::parse(payload).as_object(), *resolver_.Core(), NowMs());
    ASSERT_TRUE(created.ok()) << created.status().message();

    ContextSourceRequest request;
    request.operation = "queryEntity";
    request.entity_types = {kVocab + "Car"};
    std::vector<ContextSource> sources = registrations.Match("", request);
    ASSERT_EQ(sources.size(), 1u);
    DistributedCall call = Call();
    call.selection = &request;
    DistributedRead::QueryAnswer answer = read_.QueryEntities(
        {Local(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":50}})")}, 1, "", 0, 10, true,
        sources, call);
    ASSERT_TRUE(answer.warnings.empty()) << answer.warnings[0].reason;
    ASSERT_EQ(answer.entities.size(), 1u) << "only Car:1 has fuel at the source";
    EXPECT_EQ(answer.entities[0].id, "urn:ngsi-ld:Car:1");
    EXPECT_EQ(Value(answer.entities[0], "fuel"), "40");
    EXPECT_EQ(Value(answer.entities[0], "speed"), "50") << "the hub's own; the source was not asked for speed";
    EXPECT_EQ(*answer.total, 1u);

    call.via = "1.1 hub-b";
    DistributedRead::QueryAnswer looped = read_.QueryEntities({}, 0, "", 0, 10, true, sources, call);
    EXPECT_TRUE(looped.entities.empty());
    EXPECT_TRUE(looped.warnings.empty());
  }
  store->Close();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cityhub::broker
