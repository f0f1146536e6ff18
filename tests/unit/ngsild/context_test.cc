// Tests for JSON-LD @context resolution: core terms, user terms, prefixes, the preload folder,
// remote fetching against a real loopback HTTP server, hosted contexts, limits (URLs, sizes,
// memory budgets, concurrent downloads) and the refusal to fetch from private addresses.
#include "ngsild/context.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kNgsiLd = "https://uri.etsi.org/ngsi-ld/";

// A tiny HTTP/1.1 server on 127.0.0.1 with canned answers per path; one thread per connection
// so that a hanging answer does not block the others.
class TestHttpServer {
 public:
  struct Answer {
    int status = 200;
    std::string body;
    std::string location;
    milliseconds delay{0};
    bool hang = false;  // accept and read the request, never answer
  };

  TestHttpServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestHttpServer() {
    stop_ = true;
    acceptor_.join();
    for (std::thread& t : connections_) t.join();
    close(listen_fd_);
  }

  void Serve(const std::string& path, Answer answer) {
    std::lock_guard lock(mu_);
    answers_[path] = std::move(answer);
  }
  std::string Url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int Requests(const std::string& path) {
    std::lock_guard lock(mu_);
    return requests_[path];
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd >= 0) connections_.emplace_back([this, fd] { Handle(fd); });
    }
  }

  // Reads until the end of the request head or until stopped; returns the request path.
  std::string ReadPath(int fd) {
    std::string head;
    char buf[1024];
    while (!stop_ && head.find("\r\n\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    size_t start = head.find(' ') + 1;
    return head.substr(start, head.find(' ', start) - start);
  }

  void Handle(int fd) {
    std::string path = ReadPath(fd);
    Answer answer;
    {
      std::lock_guard lock(mu_);
      ++requests_[path];
      auto it = answers_.find(path);
      if (it != answers_.end()) {
        answer = it->second;
      } else {
        answer.status = 404;
      }
    }
    if (answer.hang) {
      while (!stop_) std::this_thread::sleep_for(milliseconds(10));
    } else {
      std::this_thread::sleep_for(answer.delay);
      std::string response = "HTTP/1.1 " + std::to_string(answer.status) + " X\r\n";
      if (!answer.location.empty()) response += "Location: " + answer.location + "\r\n";
      response += "Content-Type: application/ld+json\r\nConnection: close\r\nContent-Length: " +
                  std::to_string(answer.body.size()) + "\r\n\r\n" + answer.body;
      EXPECT_EQ(write(fd, response.data(), response.size()),
                static_cast<ssize_t>(response.size()));
    }
    close(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // touched by the acceptor thread only until joined
  std::mutex mu_;
  std::map<std::string, Answer> answers_;
  std::map<std::string, int> requests_;
};

TestHttpServer::Answer Body(std::string body, milliseconds delay = milliseconds(0)) {
  TestHttpServer::Answer a;
  a.body = std::move(body);
  a.delay = delay;
  return a;
}

TestHttpServer::Answer Redirect(int status, std::string location) {
  TestHttpServer::Answer a;
  a.status = status;
  a.location = std::move(location);
  return a;
}

TestHttpServer::Answer Silent() {
  TestHttpServer::Answer a;
  a.hang = true;
  return a;
}

// A loopback port nothing listens on.
uint16_t ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

ContextResolverOptions OfflineOptions() {
  ContextResolverOptions o;
  o.allow_remote_fetch = false;
  return o;
}

// Remote fetching from the loopback test server (a special-purpose address, so it must be allowed).
ContextResolverOptions FastFetchOptions() {
  ContextResolverOptions o;
  o.fetch_timeout = milliseconds(300);
  auto loopback = net::AddressPolicy::FromList("127.0.0.0/8,::1");
  o.outbound = std::make_shared<const net::AddressPolicy>(std::move(*loopback));
  return o;
}

ContextPtr MustResolve(ContextResolver& resolver, std::string_view json_text) {
  Result<ContextPtr> r = resolver.Resolve(json::parse(json_text));
  EXPECT_TRUE(r.ok()) << json_text << ": " << r.status().message();
  return r.ok() ? r.value() : resolver.Core();
}

Status::Code ResolveCode(ContextResolver& resolver, std::string_view json_text) {
  return resolver.Resolve(json::parse(json_text)).status().code();
}

std::string ContextDocument(std::string_view context_json) {
  return "{\"@context\": " + std::string(context_json) + "}";
}

// --- core context ---

TEST(CoreContextTest, CoreTermsExpandAndCompact) {
  ContextResolver resolver(OfflineOptions(), {});
  ContextPtr core = resolver.Core();
  EXPECT_EQ(core->ExpandTerm("location"), "https://uri.etsi.org/ngsi-ld/location");
  EXPECT_EQ(core->CompactIri("https://uri.etsi.org/ngsi-ld/location"), "location");
  EXPECT_EQ(core->ExpandTerm("value"), "https://uri.etsi.org/ngsi-ld/hasValue");
  EXPECT_EQ(core->CompactIri("https://uri.etsi.org/ngsi-ld/hasValue"), "value");
  EXPECT_EQ(core->ExpandTerm("object"), "https://uri.etsi.org/ngsi-ld/hasObject");
  EXPECT_EQ(core->ExpandTerm("id"), "@id");
  EXPECT_EQ(core->ExpandTerm("type"), "@type");
  EXPECT_EQ(core->CompactIri("@type"), "type");
  EXPECT_EQ(core->ExpandTerm("Point"), "https://purl.org/geojson/vocab#Point");
  EXPECT_EQ(core->ExpandTerm("description"), "http://purl.org/dc/terms/description");
  EXPECT_EQ(core->ExpandTerm("containedBy"), "https://uri.etsi.org/ngsi-ld/isContainedBy");
  EXPECT_EQ(core->ExpandTerm("ngsi-ld:foo"), "https://uri.etsi.org/ngsi-ld/foo");
  EXPECT_EQ(core->CompactIri("https://uri.etsi.org/ngsi-ld/foo"), "ngsi-ld:foo");
  EXPECT_EQ(core->AsJson(), json::value(kCoreContextUrl));
}

TEST(CoreContextTest, DefaultVocabularyRoundTrips) {
  ContextResolver resolver(OfflineOptions(), {});
  ContextPtr core = resolver.Core();
  EXPECT_EQ(core->ExpandTerm("Vehicle"), "https://uri.etsi.org/ngsi-ld/default-context/Vehicle");
  EXPECT_EQ(core->CompactIri("https://uri.etsi.org/ngsi-ld/default-context/Vehicle"), "Vehicle");
  // A vocabulary-relative name that would expand elsewhere must not be produced.
  EXPECT_EQ(core->CompactIri("https://uri.etsi.org/ngsi-ld/default-context/location"),
            "ngsi-ld:default-context/location");
}

TEST(CoreContextTest, AbsoluteIrisStayAsTheyAre) {
  ContextResolver resolver(OfflineOptions(), {});
  ContextPtr core = resolver.Core();
  EXPECT_EQ(core->ExpandTerm("urn:ngsi-ld:Vehicle:A1"), "urn:ngsi-ld:Vehicle:A1");
  EXPECT_EQ(core->ExpandTerm("https://example.org/speed"), "https://example.org/speed");
  EXPECT_EQ(core->CompactIri("https://example.org/speed"), "https://example.org/speed");
}

TEST(CoreContextTest, RecognisesEveryCoreContextUrl) {
  EXPECT_TRUE(IsCoreContextUrl(kCoreContextUrl));
  EXPECT_TRUE(IsCoreContextUrl("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"));
  EXPECT_TRUE(IsCoreContextUrl("http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"));
  for (int minor = 0; minor <= 12; ++minor) {
    std::string url =
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1." + std::to_string(minor) +
        ".jsonld";
    EXPECT_TRUE(IsCoreContextUrl(url)) << url;
  }
  const std::string base = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context";
  EXPECT_TRUE(IsCoreContextUrl(base + "-v1.3.1.jsonld"));
  EXPECT_FALSE(IsCoreContextUrl(base + "-v2.0.jsonld"));
  EXPECT_FALSE(IsCoreContextUrl(base + "-v1.9.jsonld.evil"));
  EXPECT_FALSE(IsCoreContextUrl("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.jsonld"));
  EXPECT_FALSE(IsCoreContextUrl("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.json"));
  EXPECT_FALSE(IsCoreContextUrl("https://evil.example/ngsi-ld/v1/ngsi-ld-core-context.jsonld"));
  EXPECT_FALSE(IsCoreContextUrl("ftp://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"));
}

// --- user contexts ---

TEST(UserContextTest, UserTermsOverrideVocabularyAndEchoAsGiven) {
  ContextResolver resolver(OfflineOptions(), {});
  ContextPtr ctx = MustResolve(resolver, R"({"Vehicle": "https://example.org/Vehicle"})");
  EXPECT_EQ(ctx->ExpandTerm("Vehicle"), "https://example.org/Vehicle");
  EXPECT_EQ(ctx->CompactIri("https://example.org/Vehicle"), "Vehicle");
  EXPECT_EQ(ctx->ExpandTerm("Bus"), "https://uri.etsi.org/ngsi-ld/default-context/Bus");
  // The default-vocabulary IRI of a redefined term must not compact back to that term.
  EXPECT_NE(ctx->CompactIri("https://uri.etsi.org/ngsi-ld/default-context/Vehicle"), "Vehicle");
  EXPECT_EQ(ctx->AsJson(), json::parse(R"({"Vehicle": "https://example.org/Vehicle"})"));
}

TEST(UserContextTest, CoreTermsCannotBeRedefined) {
  ContextResolver resolver(OfflineOptions(), {});
  ContextPtr ctx = MustResolve(resolver, R"({"location": "https://example.org/loc",
      "type": "https://example.org/type", "ngsi-ld": "https://example.org/", "myLoc":
      "https://uri.etsi.org/ngsi-ld/location", "@vocab": "https://example.org/vocab/"})");
  EXPECT_EQ(ctx->ExpandTerm("location"), "https://uri.etsi.org/ngsi-ld/location");
  EXPECT_EQ(ctx->ExpandTerm("type"), "@type");
  EXPECT_EQ(ctx->ExpandTerm("ngsi-ld:x"), "https://uri.etsi.org/ngsi-ld/x");
  EXPECT_EQ(ctx->CompactIri("https://uri.etsi.org/ngsi-ld/location"), "location");
  EXPECT_EQ(ctx->ExpandTerm("myLoc"), "https://uri.etsi.org/ngsi-ld/location");
  EXPECT_EQ(ctx->ExpandTerm("Thing"), "https://uri.etsi.org/ngsi-ld/default-context/Thing");
}

TEST(UserContextTest, PrefixesAndCompactIris) {
  ContextResolver resolver(OfflineOptions(), {});
  // "speed" uses the prefix before it is defined: order within an object does not matter.
  ContextPtr ctx = MustResolve(resolver, R"({"speed": "sdm:speed", "sdm":
      "https://smartdatamodels.org/", "fuel": {"@id": "sdm:fuel", "@type": "@vocab"},
      "sdm:brand": {"@type": "@id"}, "code": "sdm"})");
  EXPECT_EQ(ctx->ExpandTerm("speed"), "https://smartdatamodels.org/speed");
  EXPECT_EQ(ctx->ExpandTerm("fuel"), "https://smartdatamodels.org/fuel");
  EXPECT_EQ(ctx->ExpandTerm("sdm:brand"), "https://smartdatamodels.org/brand");
  EXPECT_EQ(ctx->ExpandTerm("sdm:other"), "https://smartdatamodels.org/other");
  EXPECT_EQ(ctx->ExpandTerm("code"), "https://smartdatamodels.org/");
  EXPECT_EQ(ctx->CompactIri("https://smartdatamodels.org/speed"), "speed");
  EXPECT_EQ(ctx->CompactIri("https://smartdatamodels.org/other"), "sdm:other");
  EXPECT_EQ(ctx->CompactIri("https://smartdatamodels.org/"), "sdm");
  EXPECT_EQ(ctx->ExpandTerm("sdm://host/x"), "sdm://host/x");
}

TEST(UserContextTest, ArraysApplyInOrderAndNullUndefines) {
  ContextResolver resolver(OfflineOptions(), {});
  ContextPtr later = MustResolve(
      resolver, R"([{"T": "https://one.example/T"}, {"T": "https://two.example/T"}])");
  EXPECT_EQ(later->ExpandTerm("T"), "https://two.example/T");
  ContextPtr undefined = MustResolve(
      resolver, R"([{"T": "https://one.example/T", "U": "https://one.example/U"}, {"T": null}])");
  EXPECT_EQ(undefined->ExpandTerm("T"), "https://uri.etsi.org/ngsi-ld/default-context/T");
  EXPECT_EQ(undefined->ExpandTerm("U"), "https://one.example/U");
  ContextPtr with_core = MustResolve(
      resolver, R"([{"T": "https://one.example/T"},
                   "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"])");
  EXPECT_EQ(with_core->ExpandTerm("T"), "https://one.example/T");
  EXPECT_TRUE(with_core->AsJson().is_array());
}

TEST(UserContextTest, DocumentWrapperAndJsonLdKeywordsAreAccepted) {
  ContextResolver resolver(OfflineOptions(), {});
  ContextPtr ctx = MustResolve(resolver, R"({"@context": {"@version": 1.1, "@protected": true,
      "@propagated": false, "myId": "@id", "T": {"@id": "https://x.example/T",
      "@container": "@list", "@protected": true}}})");
  EXPECT_EQ(ctx->ExpandTerm("T"), "https://x.example/T");
  EXPECT_EQ(ctx->ExpandTerm("myId"), "@id");
  EXPECT_EQ(ctx->CompactIri("@id"), "id");
}

TEST(UserContextTest, SameValueResolvesFromCache) {
  ContextResolver resolver(OfflineOptions(), {});
  json::value value = json::parse(R"({"T": "https://x.example/T"})");
  Result<ContextPtr> first = resolver.Resolve(value);
  Result<ContextPtr> second = resolver.Resolve(value);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first.value().get(), second.value().get());
  EXPECT_EQ(resolver.Resolve(json::value(nullptr)).value().get(), resolver.Core().get());
}

TEST(ImplicitContextTest, InlineAndArrayContextsAreKeptAndLinkable) {
  ContextResolver resolver(OfflineOptions(), {});
  ContextPtr inline_ctx = MustResolve(resolver, R"({"T": "https://x.example/T"})");
  const std::string& url = inline_ctx->LinkUrl();
  ASSERT_NE(url.find("/ngsi-ld/v1/jsonldContexts/"), std::string::npos) << url;
  std::string id = url.substr(url.rfind('/') + 1);

  auto listed = resolver.List(StoredContext::Kind::kImplicitlyCreated);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].url, url);
  auto stored = resolver.Get(id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(json::parse(stored->document), json::parse(R"({"@context": {"T": "https://x.example/T"}})"));

  // The kept copy resolves by its URL to the same terms.
  ContextPtr by_url = MustResolve(resolver, "\"" + url + "\"");
  EXPECT_EQ(by_url->ExpandTerm("T"), "https://x.example/T");
  EXPECT_EQ(by_url->LinkUrl(), url);

  // An array is kept too; a plain URL is not, and links to itself.
  ContextPtr array_ctx = MustResolve(resolver, R"([{"U": "https://x.example/U"}])");
  EXPECT_NE(array_ctx->LinkUrl(), url);
  EXPECT_EQ(resolver.List(StoredContext::Kind::kImplicitlyCreated).size(), 2u);
  EXPECT_EQ(resolver.Core()->LinkUrl(), kCoreContextUrl);

  EXPECT_EQ(resolver.Remove(id, /*reload=*/true).code(), Status::Code::kBadRequestData);
  EXPECT_TRUE(resolver.Remove(id, false).ok());
  EXPECT_TRUE(resolver.Get(id).status().IsNotFound());
  // Resolving the same inline context again keeps a new copy under a new URL.
  EXPECT_NE(MustResolve(resolver, R"({"T": "https://x.example/T"})")->LinkUrl(), url);
}

TEST(ImplicitContextTest, BelongToTheTenantThatSentThem) {
  ContextResolver resolver(OfflineOptions(), {});
  const json::value inline_ctx = json::parse(R"({"T": "https://x.example/T"})");
  Result<ContextPtr> in_a = resolver.Resolve(inline_ctx, "a");
  ASSERT_TRUE(in_a.ok()) << in_a.status().message();
  const std::string url = (*in_a)->LinkUrl();
  const std::string id = url.substr(url.rfind('/') + 1);

  ASSERT_EQ(resolver.List(StoredContext::Kind::kImplicitlyCreated, "a").size(), 1u);
  EXPECT_EQ(resolver.List(StoredContext::Kind::kImplicitlyCreated, "a")[0].tenant, "a");
  EXPECT_TRUE(resolver.Get(id, "a").ok());
  // Another tenant neither lists, serves, deletes nor resolves it (its URL is not held for it,
  // and fetching is off here).
  EXPECT_TRUE(resolver.List(std::nullopt, "b").empty());
  EXPECT_TRUE(resolver.List(std::nullopt).empty());
  EXPECT_TRUE(resolver.Get(id, "b").status().IsNotFound());
  EXPECT_TRUE(resolver.Remove(id, false, "b").IsNotFound());
  EXPECT_EQ(resolver.ResolveUrl(url, "b").status().code(), Status::Code::kLdContextNotAvailable);
  // The same text sent in tenant b is b's own copy; a's is unchanged and still resolves in a.
  Result<ContextPtr> in_b = resolver.Resolve(inline_ctx, "b");
  ASSERT_TRUE(in_b.ok());
  EXPECT_NE((*in_b)->LinkUrl(), url);
  EXPECT_EQ(resolver.List(StoredContext::Kind::kImplicitlyCreated, "b").size(), 1u);
  Result<ContextPtr> by_url = resolver.ResolveUrl(url, "a");
  ASSERT_TRUE(by_url.ok());
  EXPECT_EQ((*by_url)->ExpandTerm("T"), "https://x.example/T");
  EXPECT_TRUE(resolver.Remove(id, false, "a").ok());
  EXPECT_EQ(resolver.List(StoredContext::Kind::kImplicitlyCreated, "b").size(), 1u);
}

TEST(ImplicitContextTest, OnlyTheMostRecentAreKept) {
  ContextResolver resolver(OfflineOptions(), {});
  std::string first_url;
  for (size_t i = 0; i <= ContextResolver::kMaxImplicitContexts; ++i) {
    ContextPtr c = MustResolve(resolver, fmt::format(R"({{"T{}": "https://x.example/T"}})", i));
    if (i == 0) first_url = c->LinkUrl();
  }
  EXPECT_EQ(resolver.List(StoredContext::Kind::kImplicitlyCreated).size(), ContextResolver::kMaxImplicitContexts);
  EXPECT_TRUE(resolver.Get(first_url.substr(first_url.rfind('/') + 1)).status().IsNotFound());
}

TEST(UserContextTest, MalformedContextsAreRejected) {
  ContextResolver resolver(OfflineOptions(), {});
  EXPECT_EQ(ResolveCode(resolver, "42"), Status::Code::kInvalidRequest);
  EXPECT_EQ(ResolveCode(resolver, "[true]"), Status::Code::kInvalidRequest);
  EXPECT_EQ(ResolveCode(resolver, R"("")"), Status::Code::kInvalidRequest);
  EXPECT_EQ(ResolveCode(resolver, R"({"T": 5})"), Status::Code::kInvalidRequest);
  EXPECT_EQ(ResolveCode(resolver, R"({"T": "@nonsense"})"), Status::Code::kInvalidRequest);
  EXPECT_EQ(ResolveCode(resolver, R"({"T": {"@id": 7}})"), Status::Code::kInvalidRequest);
  EXPECT_EQ(ResolveCode(resolver, R"({"T": ""})"), Status::Code::kInvalidRequest);
  EXPECT_EQ(ResolveCode(resolver, R"({"": "https://x.example/"})"),
            Status::Code::kInvalidRequest);
  EXPECT_EQ(ResolveCode(resolver, R"({"@import": "https://x.example/c.jsonld"})"),
            Status::Code::kInvalidRequest);
  Result<ContextPtr> cyclic = resolver.Resolve(json::parse(R"({"a": "b:x", "b": "a:y"})"));
  EXPECT_EQ(cyclic.status().code(), Status::Code::kInvalidRequest);
  EXPECT_NE(cyclic.status().message().find("cyclic"), std::string::npos);
  EXPECT_EQ(ResolveCode(resolver, R"({"a": "b", "b": "a"})"), Status::Code::kInvalidRequest);
}

TEST(UserContextTest, NestingDepthIsBounded) {
  ContextResolver resolver(OfflineOptions(), {});
  std::string deep = R"({"T": "https://x.example/T"})";
  for (int i = 0; i < 20; ++i) deep = "[" + deep + "]";
  EXPECT_EQ(ResolveCode(resolver, deep), Status::Code::kInvalidRequest);
}

// --- preload folder ---

std::string SharedContextsDir() {
  const char* shared = std::getenv("CITYHUB_SHARED");
  if (!shared) return "";
  std::string dir = std::string(shared) + "/data/jsonld-contexts";
  return std::filesystem::exists(dir + "/index.json") ? dir : "";
}

TEST(PreloadTest, ResolvesSmartDataModelsOffline) {
  std::string dir = SharedContextsDir();
  if (dir.empty()) GTEST_SKIP() << "CITYHUB_SHARED/data/jsonld-contexts not available";
  ContextResolverOptions options = OfflineOptions();
  options.preload_dir = dir;
  ContextResolver resolver(options, {});
  ASSERT_TRUE(resolver.Init().ok());
  Result<ContextPtr> ctx =
      resolver.ResolveUrl("https://smart-data-models.github.io/dataModel.Parking/context.jsonld");
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  EXPECT_EQ((*ctx)->ExpandTerm("ParkingSpot"),
            "https://smartdatamodels.org/dataModel.Parking/ParkingSpot");
  EXPECT_EQ((*ctx)->CompactIri("https://smartdatamodels.org/dataModel.Parking/ParkingSpot"),
            "ParkingSpot");
  EXPECT_EQ((*ctx)->ExpandTerm("location"), "https://uri.etsi.org/ngsi-ld/location");
  // Preloaded documents are not downloaded ones.
  EXPECT_TRUE(resolver.List(StoredContext::Kind::kCached).empty());
  // Not preloaded and fetching is off: the URL is named in the error.
  Result<ContextPtr> missing = resolver.ResolveUrl("https://example.org/unknown.jsonld");
  EXPECT_EQ(missing.status().code(), Status::Code::kLdContextNotAvailable);
  EXPECT_NE(missing.status().message().find("https://example.org/unknown.jsonld"),
            std::string::npos);
}

TEST(PreloadTest, BadFolderNamesTheFile) {
  ContextResolverOptions options = OfflineOptions();
  options.preload_dir = "/nonexistent/cityhub-contexts";
  ContextResolver resolver(options, {});
  Status status = resolver.Init();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent/cityhub-contexts/index.json"), std::string::npos);
}

// --- remote fetch ---

TEST(RemoteFetchTest, FetchesCachesListsAndReloads) {
  TestHttpServer server;
  server.Serve("/ctx.jsonld", Body(ContextDocument(R"({"Bus": "https://x.example/Bus"})")));
  ContextResolver resolver(FastFetchOptions(), {});
  std::string url = server.Url("/ctx.jsonld");
  for (int i = 0; i < 3; ++i) {
    Result<ContextPtr> ctx = resolver.ResolveUrl(url);
    ASSERT_TRUE(ctx.ok()) << ctx.status().message();
    EXPECT_EQ((*ctx)->ExpandTerm("Bus"), "https://x.example/Bus");
    EXPECT_EQ((*ctx)->AsJson(), json::value(url));
  }
  EXPECT_EQ(server.Requests("/ctx.jsonld"), 1);

  std::vector<StoredContext> cached = resolver.List(StoredContext::Kind::kCached);
  ASSERT_EQ(cached.size(), 1u);
  EXPECT_EQ(cached[0].url, url);
  EXPECT_EQ(cached[0].number_of_hits, 3u);
  EXPECT_GT(cached[0].last_used_ms, 0);
  EXPECT_TRUE(resolver.List(StoredContext::Kind::kHosted).empty());
  ASSERT_TRUE(resolver.Get(cached[0].id).ok());

  ASSERT_TRUE(resolver.Remove(cached[0].id, /*reload=*/true).ok());
  EXPECT_EQ(server.Requests("/ctx.jsonld"), 2);
  ASSERT_TRUE(resolver.Remove(cached[0].id, /*reload=*/false).ok());
  EXPECT_TRUE(resolver.List(std::nullopt).empty());
  EXPECT_TRUE(resolver.Get(cached[0].id).status().IsNotFound());
  ASSERT_TRUE(resolver.ResolveUrl(url).ok());
  EXPECT_EQ(server.Requests("/ctx.jsonld"), 3);
}

TEST(RemoteFetchTest, ExpiredDocumentsAreRefetchedOrServedStale) {
  auto server = std::make_unique<TestHttpServer>();
  server->Serve("/ctx", Body(ContextDocument(R"({"Bus": "https://x.example/Bus"})")));
  ContextResolverOptions options = FastFetchOptions();
  options.cache_ttl = std::chrono::seconds(0);
  ContextResolver resolver(options, {});
  std::string url = server->Url("/ctx");
  ASSERT_TRUE(resolver.ResolveUrl(url).ok());
  ASSERT_TRUE(resolver.ResolveUrl(url).ok());
  EXPECT_EQ(server->Requests("/ctx"), 2);
  server.reset();  // the context server goes away: the old copy keeps working
  Result<ContextPtr> stale = resolver.ResolveUrl(url);
  ASSERT_TRUE(stale.ok()) << stale.status().message();
  EXPECT_EQ((*stale)->ExpandTerm("Bus"), "https://x.example/Bus");
}

TEST(RemoteFetchTest, FollowsNestedContextsAndRedirects) {
  TestHttpServer server;
  server.Serve("/inner", Body(ContextDocument(R"({"Tram": "https://x.example/Tram"})")));
  server.Serve("/outer", Body(ContextDocument("[\"" + server.Url("/inner") +
                                               R"(", {"Bus": "https://x.example/Bus"}])")));
  server.Serve("/moved", Redirect(302, "/outer"));
  ContextResolver resolver(FastFetchOptions(), {});
  Result<ContextPtr> ctx = resolver.ResolveUrl(server.Url("/moved"));
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  EXPECT_EQ((*ctx)->ExpandTerm("Tram"), "https://x.example/Tram");
  EXPECT_EQ((*ctx)->ExpandTerm("Bus"), "https://x.example/Bus");
}

TEST(RemoteFetchTest, RedirectLoopsAreCut) {
  TestHttpServer server;
  server.Serve("/a", Redirect(302, "/b"));
  server.Serve("/b", Redirect(301, "/a"));
  ContextResolver resolver(FastFetchOptions(), {});
  Result<ContextPtr> ctx = resolver.ResolveUrl(server.Url("/a"));
  EXPECT_EQ(ctx.status().code(), Status::Code::kLdContextNotAvailable);
  EXPECT_NE(ctx.status().message().find("redirects"), std::string::npos);
  EXPECT_EQ(server.Requests("/a") + server.Requests("/b"), 4);
}

TEST(RemoteFetchTest, SilentServerFailsWithinTheTimeout) {
  TestHttpServer server;
  server.Serve("/slow", Silent());
  ContextResolver resolver(FastFetchOptions(), {});
  auto start = Clock::now();
  Result<ContextPtr> ctx = resolver.ResolveUrl(server.Url("/slow"));
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(ctx.status().code(), Status::Code::kLdContextNotAvailable);
  EXPECT_NE(ctx.status().message().find(server.Url("/slow")), std::string::npos);
  EXPECT_NE(ctx.status().message().find("timed out"), std::string::npos);
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, milliseconds(900));
  // The failure is remembered briefly: the next request does not wait again.
  start = Clock::now();
  EXPECT_EQ(resolver.ResolveUrl(server.Url("/slow")).status().code(),
            Status::Code::kLdContextNotAvailable);
  EXPECT_LT(Clock::now() - start, milliseconds(100));
}

TEST(RemoteFetchTest, TricklingServerIsBoundByTheWholeFetchDeadline) {
  TestHttpServer server;
  server.Serve("/late", Body(ContextDocument("{}"), milliseconds(1500)));
  ContextResolver resolver(FastFetchOptions(), {});
  auto start = Clock::now();
  EXPECT_EQ(resolver.ResolveUrl(server.Url("/late")).status().code(),
            Status::Code::kLdContextNotAvailable);
  EXPECT_LT(Clock::now() - start, milliseconds(900));
}

TEST(RemoteFetchTest, RefusedConnectionAndHttpErrorsAreNotAvailable) {
  ContextResolver resolver(FastFetchOptions(), {});
  std::string refused = "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/c.jsonld";
  Result<ContextPtr> ctx = resolver.ResolveUrl(refused);
  EXPECT_EQ(ctx.status().code(), Status::Code::kLdContextNotAvailable);
  EXPECT_NE(ctx.status().message().find(refused), std::string::npos);

  TestHttpServer server;
  server.Serve("/bad-json", Body("{not json"));
  server.Serve("/no-context", Body(R"({"Bus": "https://x.example/Bus"})"));
  // Clients learn a coarse reason, never the remote status or body.
  Result<ContextPtr> missing = resolver.ResolveUrl(server.Url("/missing"));
  EXPECT_EQ(missing.status().code(), Status::Code::kLdContextNotAvailable);
  EXPECT_EQ(missing.status().message(),
            "cannot retrieve @context '" + server.Url("/missing") +
                "': the server answered with an error");
  EXPECT_EQ(resolver.ResolveUrl(server.Url("/bad-json")).status().code(),
            Status::Code::kLdContextNotAvailable);
  EXPECT_EQ(resolver.ResolveUrl(server.Url("/no-context")).status().code(),
            Status::Code::kLdContextNotAvailable);
  EXPECT_EQ(resolver.ResolveUrl("ftp://127.0.0.1/c.jsonld").status().code(),
            Status::Code::kLdContextNotAvailable);
  // https to a server that only speaks plain HTTP (and waits for a request head that never
  // comes): the TLS handshake is cut at the deadline, nothing hangs.
  std::string https = server.Url("/no-context").replace(0, 4, "https");
  auto start = Clock::now();
  Result<ContextPtr> tls = resolver.ResolveUrl(https);
  EXPECT_EQ(tls.status().code(), Status::Code::kLdContextNotAvailable);
  EXPECT_NE(tls.status().message().find("timed out"), std::string::npos) << tls.status().message();
  EXPECT_LT(Clock::now() - start, milliseconds(900));
}

TEST(RemoteFetchTest, OversizedDocumentIsRejected) {
  TestHttpServer server;
  server.Serve("/big", Body(ContextDocument(R"({"T": ")" + std::string(500, 'x') + "\"}")));
  ContextResolverOptions options = FastFetchOptions();
  options.max_document_bytes = 200;
  ContextResolver resolver(options, {});
  Result<ContextPtr> ctx = resolver.ResolveUrl(server.Url("/big"));
  EXPECT_EQ(ctx.status().code(), Status::Code::kInvalidRequest);
  EXPECT_NE(ctx.status().message().find("200 bytes"), std::string::npos);
}

TEST(RemoteFetchTest, SelfIncludingDocumentIsRejected) {
  TestHttpServer server;
  server.Serve("/self", Body(ContextDocument("\"" + server.Url("/self") + "\"")));
  ContextResolver resolver(FastFetchOptions(), {});
  EXPECT_EQ(resolver.ResolveUrl(server.Url("/self")).status().code(),
            Status::Code::kInvalidRequest);
}

TEST(RemoteFetchTest, ConcurrentResolutionsShareOneFetch) {
  TestHttpServer server;
  server.Serve("/shared", Body(
                              ContextDocument(R"({"Bus": "https://x.example/Bus"})"),
                              milliseconds(150)));
  ContextResolverOptions options = FastFetchOptions();
  options.fetch_timeout = milliseconds(2000);
  ContextResolver resolver(options, {});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (resolver.ResolveUrl(server.Url("/shared")).ok()) ++ok;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(server.Requests("/shared"), 1);
}

// --- hosted contexts ---

struct RecordingPersistence {
  std::vector<StoredContext> saved;
  std::vector<std::string> removed;
  ContextPersistence Callbacks() {
    return {[this](const StoredContext& c) {
              saved.push_back(c);
              return Status::Ok();
            },
            [this](std::string_view id) {
              removed.emplace_back(id);
              return Status::Ok();
            },
            [this](const std::function<void(StoredContext)>& each) {
              for (const StoredContext& c : saved) each(c);
              return Status::Ok();
            }};
  }
};

TEST(HostedContextTest, AddGetListRemove) {
  RecordingPersistence store;
  ContextResolverOptions options = OfflineOptions();
  options.public_base_url = "http://hub.example:1026";
  ContextResolver resolver(options, store.Callbacks());
  Result<StoredContext> added =
      resolver.AddHosted(json::parse(ContextDocument(R"({"Bus": "https://x.example/Bus"})")));
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_EQ(added->kind, StoredContext::Kind::kHosted);
  EXPECT_FALSE(added->id.empty());
  EXPECT_EQ(added->url, "http://hub.example:1026/ngsi-ld/v1/jsonldContexts/" + added->id);
  ASSERT_EQ(store.saved.size(), 1u);
  EXPECT_EQ(store.saved[0].id, added->id);

  Result<ContextPtr> ctx = resolver.ResolveUrl(added->url);
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  EXPECT_EQ((*ctx)->ExpandTerm("Bus"), "https://x.example/Bus");
  // The same hosted context reached under another host name.
  ASSERT_TRUE(resolver.ResolveUrl("http://127.0.0.1:1026/ngsi-ld/v1/jsonldContexts/" + added->id)
                  .ok());
  Result<StoredContext> got = resolver.Get(added->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->number_of_hits, 2u);
  EXPECT_EQ(resolver.List(StoredContext::Kind::kHosted).size(), 1u);
  EXPECT_TRUE(resolver.List(StoredContext::Kind::kCached).empty());

  EXPECT_EQ(resolver.Remove(added->id, /*reload=*/true).code(), Status::Code::kBadRequestData);
  ASSERT_TRUE(resolver.Remove(added->id, /*reload=*/false).ok());
  EXPECT_EQ(store.removed, std::vector<std::string>{added->id});
  EXPECT_TRUE(resolver.Get(added->id).status().IsNotFound());
  EXPECT_TRUE(resolver.Remove(added->id, false).IsNotFound());
  EXPECT_EQ(resolver.ResolveUrl(added->url).status().code(), Status::Code::kLdContextNotAvailable);
}

TEST(HostedContextTest, PersistedContextsAreLoadedAtInit) {
  RecordingPersistence store;
  std::string url;
  {
    ContextResolver first(OfflineOptions(), store.Callbacks());
    Result<StoredContext> added =
        first.AddHosted(json::parse(ContextDocument(R"({"Bus": "https://x.example/Bus"})")));
    ASSERT_TRUE(added.ok());
    url = added->url;
  }
  ContextResolver second(OfflineOptions(), store.Callbacks());
  ASSERT_TRUE(second.Init().ok());
  Result<ContextPtr> ctx = second.ResolveUrl(url);
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  EXPECT_EQ((*ctx)->ExpandTerm("Bus"), "https://x.example/Bus");
}

TEST(HostedContextTest, MalformedDocumentsAreRejected) {
  RecordingPersistence store;
  ContextResolver resolver(OfflineOptions(), store.Callbacks());
  EXPECT_EQ(resolver.AddHosted(json::parse("[1]")).status().code(),
            Status::Code::kBadRequestData);
  EXPECT_EQ(resolver.AddHosted(json::parse(R"({"Bus": "https://x.example/Bus"})")).status().code(),
            Status::Code::kBadRequestData);
  EXPECT_EQ(resolver.AddHosted(json::parse(ContextDocument("5"))).status().code(),
            Status::Code::kBadRequestData);
  EXPECT_EQ(resolver.AddHosted(json::parse(ContextDocument(R"({"Bus": 5})"))).status().code(),
            Status::Code::kBadRequestData);
  EXPECT_TRUE(store.saved.empty());
  EXPECT_TRUE(resolver.List(std::nullopt).empty());
}

TEST(LimitsTest, AtMost32UrlsPerResolution) {
  ContextResolver resolver(OfflineOptions(), {});
  Result<StoredContext> added =
      resolver.AddHosted(json::parse(ContextDocument(R"({"Bus": "https://x.example/Bus"})")));
  ASSERT_TRUE(added.ok());
  json::array urls;
  for (int i = 0; i < 32; ++i) urls.emplace_back(added->url);
  EXPECT_TRUE(resolver.Resolve(urls).ok());
  urls.emplace_back(added->url);
  Result<ContextPtr> too_many = resolver.Resolve(urls);
  EXPECT_EQ(too_many.status().code(), Status::Code::kInvalidRequest);
  EXPECT_NE(too_many.status().message().find("32"), std::string::npos);
}

TEST(LimitsTest, NestedRemoteUrlsCountTowardsTheLimit) {
  TestHttpServer server;
  // /chain/0 -> /chain/1 -> … : each document refers to the next one.
  for (int i = 0; i < 40; ++i) {
    server.Serve("/chain/" + std::to_string(i),
                 Body(ContextDocument("[\"" + server.Url("/chain/" + std::to_string(i + 1)) +
                                       R"(", {"T": "https://x.example/T"}])")));
  }
  ContextResolver resolver(FastFetchOptions(), {});
  EXPECT_EQ(resolver.ResolveUrl(server.Url("/chain/0")).status().code(),
            Status::Code::kInvalidRequest);
  EXPECT_LE(server.Requests("/chain/33"), 0);
}

TEST(LimitsTest, ContextUrlsAreCheckedBeforeAnyLookupOrFetch) {
  TestHttpServer server;
  server.Serve("/ctx", Body(ContextDocument(R"({"Bus": "https://x.example/Bus"})")));
  ContextResolver resolver(FastFetchOptions(), {});
  std::string overlong =
      server.Url("/ctx?") + std::string(ContextResolver::kMaxContextUrlBytes, 'x');
  Result<ContextPtr> long_url = resolver.ResolveUrl(overlong);
  EXPECT_EQ(long_url.status().code(), Status::Code::kBadRequestData);
  EXPECT_NE(long_url.status().message().find("2048"), std::string::npos);
  EXPECT_EQ(long_url.status().message().find(overlong), std::string::npos);  // not echoed
  EXPECT_EQ(ResolveCode(resolver, "[\"" + overlong + "\"]"), Status::Code::kBadRequestData);
  EXPECT_EQ(server.Requests("/ctx?" + std::string(ContextResolver::kMaxContextUrlBytes, 'x')), 0);
  EXPECT_EQ(resolver.ResolveUrl("ctx.jsonld").status().code(), Status::Code::kBadRequestData);
  EXPECT_EQ(resolver.ResolveUrl("http:///ctx.jsonld").status().code(),
            Status::Code::kBadRequestData);
  // Well-formed but not retrievable.
  EXPECT_EQ(resolver.ResolveUrl("urn:example:ctx").status().code(),
            Status::Code::kLdContextNotAvailable);
  // Hosted documents may not refer to such URLs either.
  EXPECT_EQ(resolver.AddHosted(json::parse(ContextDocument(R"("ctx.jsonld")"))).status().code(),
            Status::Code::kBadRequestData);
  EXPECT_TRUE(resolver.List(std::nullopt).empty());
}

TEST(LimitsTest, RememberedFailuresAreBounded) {
  TestHttpServer server;  // answers 404 to every path
  ContextResolver resolver(FastFetchOptions(), {});
  constexpr int kFailures = 1001;  // one more than are remembered
  for (int i = 0; i < kFailures; ++i) {
    ASSERT_EQ(resolver.ResolveUrl(server.Url(fmt::format("/f{}", i))).status().code(),
              Status::Code::kLdContextNotAvailable);
  }
  // The newest failure is still remembered, the oldest was evicted and is fetched again.
  ASSERT_FALSE(resolver.ResolveUrl(server.Url(fmt::format("/f{}", kFailures - 1))).ok());
  EXPECT_EQ(server.Requests(fmt::format("/f{}", kFailures - 1)), 1);
  ASSERT_FALSE(resolver.ResolveUrl(server.Url("/f0")).ok());
  EXPECT_EQ(server.Requests("/f0"), 2);
}

TEST(LimitsTest, InlineContextSizeIsCapped) {
  ContextResolverOptions options = OfflineOptions();
  options.max_inline_context_bytes = 1000;
  ContextResolver resolver(options, {});
  std::string big = R"({"T": "https://x.example/)" + std::string(1000, 'x') + "\"}";
  Result<ContextPtr> ctx = resolver.Resolve(json::parse(big));
  EXPECT_EQ(ctx.status().code(), Status::Code::kBadRequestData);
  EXPECT_NE(ctx.status().message().find("1000 bytes"), std::string::npos);
  EXPECT_EQ(ResolveCode(resolver, "[" + big + "]"), Status::Code::kBadRequestData);
  EXPECT_TRUE(resolver.List(std::nullopt).empty());
  // Hosted documents are bounded by max_document_bytes instead.
  EXPECT_TRUE(resolver.AddHosted(json::parse(ContextDocument(big))).ok());
}

TEST(LimitsTest, ImplicitContextsAreBoundedInBytes) {
  ContextResolverOptions options = OfflineOptions();
  options.max_implicit_bytes = 200 << 10;
  ContextResolver resolver(options, {});
  std::vector<std::string> urls;
  for (int i = 0; i < 20; ++i) {
    std::string iri = fmt::format("https://x.example/{}/{}", i, std::string(20 << 10, 'x'));
    urls.push_back(MustResolve(resolver, fmt::format(R"({{"T": "{}"}})", iri))->LinkUrl());
  }
  std::vector<StoredContext> kept = resolver.List(StoredContext::Kind::kImplicitlyCreated);
  size_t bytes = 0;
  for (const StoredContext& c : kept) bytes += c.document.size();
  EXPECT_LE(2 * bytes, options.max_implicit_bytes);
  EXPECT_GE(kept.size(), 3u);
  EXPECT_LT(kept.size(), 20u);
  // The oldest went first; the newest is kept and resolvable by its URL.
  std::string oldest_id = urls.front().substr(urls.front().rfind('/') + 1);
  EXPECT_TRUE(resolver.Get(oldest_id).status().IsNotFound());
  ContextPtr newest = MustResolve(resolver, "\"" + urls.back() + "\"");
  EXPECT_EQ(newest->ExpandTerm("T").substr(0, 21), "https://x.example/19/");
}

TEST(LimitsTest, ResolvedCacheIsBoundedInBytes) {
  ContextResolverOptions options = OfflineOptions();
  options.max_resolved_cache_bytes = 1;  // only the newest entry stays
  ContextResolver resolver(options, {});
  ContextPtr a = MustResolve(resolver, R"({"A": "https://x.example/A"})");
  EXPECT_EQ(MustResolve(resolver, R"({"A": "https://x.example/A"})").get(), a.get());
  ContextPtr b = MustResolve(resolver, R"({"B": "https://x.example/B"})");
  ContextPtr a_again = MustResolve(resolver, R"({"A": "https://x.example/A"})");
  EXPECT_NE(a_again.get(), a.get());  // rebuilt, but the same kept document and terms
  EXPECT_EQ(a_again->LinkUrl(), a->LinkUrl());
  EXPECT_EQ(a_again->ExpandTerm("A"), "https://x.example/A");
  EXPECT_EQ(MustResolve(resolver, R"({"A": "https://x.example/A"})").get(), a_again.get());
}

TEST(LimitsTest, ConcurrentDownloadsAreBoundedAndExcessFailsFast) {
  TestHttpServer server;
  server.Serve("/slow/0", Silent());
  server.Serve("/slow/1", Silent());
  server.Serve("/ok", Body(ContextDocument(R"({"Bus": "https://x.example/Bus"})")));
  ContextResolverOptions options = FastFetchOptions();
  options.fetch_timeout = milliseconds(1000);
  options.max_concurrent_fetches = 2;
  ContextResolver resolver(options, {});
  std::vector<std::thread> slow;
  for (int i = 0; i < 2; ++i) {
    slow.emplace_back([&, i] {
      EXPECT_FALSE(resolver.ResolveUrl(server.Url(fmt::format("/slow/{}", i))).ok());
    });
  }
  while (server.Requests("/slow/0") + server.Requests("/slow/1") < 2) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  auto start = Clock::now();
  Result<ContextPtr> refused = resolver.ResolveUrl(server.Url("/ok"));
  EXPECT_LT(Clock::now() - start, milliseconds(100));
  EXPECT_EQ(refused.status().code(), Status::Code::kLdContextNotAvailable);
  EXPECT_NE(refused.status().message().find("too many @context downloads in progress"),
            std::string::npos);
  EXPECT_EQ(server.Requests("/ok"), 0);
  for (std::thread& t : slow) t.join();
  // The refusal was not remembered as a failure of that URL.
  EXPECT_TRUE(resolver.ResolveUrl(server.Url("/ok")).ok());
}

// --- private addresses ---

TEST(PrivateAddressTest, LoopbackPrivateAndLinkLocalAreRefused) {
  TestHttpServer server;
  server.Serve("/ctx", Body(ContextDocument(R"({"Bus": "https://x.example/Bus"})")));
  // The refusal happens before any connection: the message names the policy (not a timeout or a
  // connection failure) and the server sees no request. With a long download deadline, a refusal
  // that waited for it would also show in the time taken; the bound is half that deadline, so load
  // on the machine cannot fail the test, only a wait for the deadline can.
  ContextResolverOptions options = FastFetchOptions();
  options.outbound = nullptr;  // the default: public addresses only
  options.fetch_timeout = milliseconds(20'000);
  ContextResolver resolver(options, {});
  std::string port = server.Url("").substr(server.Url("").rfind(':') + 1);
  for (std::string_view host : {"127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::]", "10.0.0.1",
                                "172.16.5.4", "192.168.1.1", "169.254.169.254", "[fe80::1]",
                                "[fd00::1]", "[::ffff:127.0.0.1]", "100.64.0.1", "224.0.0.1"}) {
    std::string url = fmt::format("http://{}:{}/ctx", host, port);
    auto start = Clock::now();
    Result<ContextPtr> ctx = resolver.ResolveUrl(url);
    EXPECT_EQ(ctx.status().code(), Status::Code::kLdContextNotAvailable) << url;
    EXPECT_EQ(ctx.status().message(),
              "cannot retrieve @context '" + url + "': address not allowed by the outbound policy");
    EXPECT_LT(Clock::now() - start, options.fetch_timeout / 2) << url;
  }
  EXPECT_EQ(server.Requests("/ctx"), 0);
}

}  // namespace
}  // namespace cityhub::ngsild
