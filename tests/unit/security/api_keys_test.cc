// Tests for security/api_keys on real files in a temporary directory: a created key survives
// save and load and authenticates as its Principal while the file holds neither the key nor its
// secret; wrong, unknown, malformed, revoked and expired keys are refused; a revocation saved by
// another ApiKeyFile (as `cityhub keys revoke` does) reaches a running authenticator without a
// restart; a corrupt file keeps the keys in force; invalid names, roles and files are refused.
#include "security/api_keys.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cityhub::security {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr int64_t kNow = 1'790'000'000;
constexpr std::chrono::milliseconds kAlways{0};

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cityhub-api-keys-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "api-keys.json").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string ReadFile() const {
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void WriteFile(const std::string& text) const { std::ofstream(path_, std::ios::trunc) << text; }

  // A file holding one key "gateway-1" with `roles`; returns the key text.
  std::string CreateOne(std::vector<std::string> roles = {"writer", "city-a:reader"}, int64_t expires_at = 0) {
    auto file = ApiKeyFile::Load(path_);
    EXPECT_TRUE(file.ok()) << file.status().message();
    auto text = file->Create("gateway-1", std::move(roles), expires_at, kNow);
    EXPECT_TRUE(text.ok()) << text.status().message();
    EXPECT_TRUE(file->Save(path_).ok());
    return text.ok() ? *text : std::string();
  }

  std::unique_ptr<ApiKeyAuthenticator> OpenAuth(std::chrono::milliseconds reload_check = kAlways) {
    auto auth = ApiKeyAuthenticator::Open(path_, reload_check);
    EXPECT_TRUE(auth.ok()) << auth.status().message();
    return auth.ok() ? std::move(auth.value()) : nullptr;
  }

  std::filesystem::path dir_;
  std::string path_;
};

void ExpectUnauthenticated(const Result<Principal>& r, std::string_view reason) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr(std::string(reason)));
}

TEST_F(ApiKeysTest, MissingFileIsAnEmptySet) {
  auto file = ApiKeyFile::Load(path_);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_TRUE(file->keys().empty());
}

TEST_F(ApiKeysTest, KeyTextHasTheDocumentedForm) {
  const std::string text = CreateOne();
  EXPECT_THAT(text, MatchesRegex("chk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}"));
}

TEST_F(ApiKeysTest, CreateSaveLoadRoundTripWithoutTheSecret) {
  const std::string text = CreateOne({"writer", "city-a:reader", "*:reader"}, kNow + 3600);
  const std::string id = text.substr(4, 12);
  const std::string secret = text.substr(17);

  auto file = ApiKeyFile::Load(path_);
  ASSERT_TRUE(file.ok()) << file.status().message();
  ASSERT_EQ(file->keys().size(), 1u);
  const ApiKeyRecord& k = file->keys()[0];
  EXPECT_EQ(k.id, id);
  EXPECT_EQ(k.name, "gateway-1");
  EXPECT_THAT(k.roles, ElementsAre("writer", "city-a:reader", "*:reader"));
  EXPECT_EQ(k.created_at, kNow);
  EXPECT_EQ(k.expires_at, kNow + 3600);
  EXPECT_EQ(k.revoked_at, 0);
  EXPECT_THAT(k.sha256, MatchesRegex("[0-9a-f]{64}"));

  const std::string content = ReadFile();
  EXPECT_THAT(content, HasSubstr("\"version\":1"));
  EXPECT_THAT(content, HasSubstr(id));
  EXPECT_THAT(content, Not(HasSubstr(text)));
  EXPECT_THAT(content, Not(HasSubstr(secret)));
}

TEST_F(ApiKeysTest, SavedFileIsOwnerOnlyAndLeavesNoTemporaryFile) {
  CreateOne();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);
}

TEST_F(ApiKeysTest, AuthenticateGivesThePrincipal) {
  const std::string text = CreateOne({"writer", "city-a:reader"}, kNow + 3600);
  auto auth = OpenAuth();
  auto p = auth->Authenticate(text, kNow);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->subject, "apikey:gateway-1");
  EXPECT_EQ(p->issuer, "");
  EXPECT_THAT(p->roles, ElementsAre("writer", "city-a:reader"));
  EXPECT_EQ(p->expires_at, kNow + 3600);
  EXPECT_TRUE(p->HasRole("", "writer"));
  EXPECT_TRUE(p->HasRole("city-a", "reader"));
  EXPECT_FALSE(p->HasRole("city-a", "writer"));
}

TEST_F(ApiKeysTest, WrongSecretUnknownIdAndMalformedTextAreRefusedWithoutEchoingTheKey) {
  const std::string text = CreateOne();
  auto auth = OpenAuth();

  std::string wrong_secret = text;
  wrong_secret.back() = wrong_secret.back() == 'A' ? 'B' : 'A';
  auto r = auth->Authenticate(wrong_secret, kNow);
  ExpectUnauthenticated(r, "unknown or wrong API key");
  EXPECT_THAT(r.status().message(), Not(HasSubstr(wrong_secret.substr(17))));

  std::string unknown_id = text;
  unknown_id[4] = unknown_id[4] == 'a' ? 'b' : 'a';
  ExpectUnauthenticated(auth->Authenticate(unknown_id, kNow), "unknown or wrong API key");

  for (std::string bad : {std::string(), std::string("chk_"), text.substr(0, text.size() - 1), text + "A",
                          "xyz" + text.substr(3), "chk_ABCDEF012345" + text.substr(16),
                          text.substr(0, 16) + "." + text.substr(17), text.substr(0, 20) + "+" + text.substr(21)}) {
    auto m = auth->Authenticate(bad, kNow);
    ExpectUnauthenticated(m, "malformed API key");
    if (bad.size() > 16) {  // shorter texts may be part of the expected-form hint
      EXPECT_THAT(m.status().message(), Not(HasSubstr(bad)));
    }
  }
}

TEST_F(ApiKeysTest, RevokedAndExpiredKeysAreRefused) {
  auto file = ApiKeyFile::Load(path_);
  ASSERT_TRUE(file.ok());
  auto revoked = file->Create("revoked-one", {"reader"}, 0, kNow);
  auto expiring = file->Create("expiring-one", {"reader"}, kNow + 60, kNow);
  ASSERT_TRUE(revoked.ok() && expiring.ok());
  ASSERT_TRUE(file->Revoke("revoked-one", kNow + 1).ok());
  ASSERT_TRUE(file->Save(path_).ok());

  auto auth = OpenAuth();
  ExpectUnauthenticated(auth->Authenticate(*revoked, kNow + 2), "revoked");
  EXPECT_TRUE(auth->Authenticate(*expiring, kNow + 59).ok());
  ExpectUnauthenticated(auth->Authenticate(*expiring, kNow + 60), "expired");
}

TEST_F(ApiKeysTest, RevocationBySecondFileReachesARunningAuthenticator) {
  const std::string text = CreateOne();
  auto auth = OpenAuth(std::chrono::milliseconds(200));
  ASSERT_TRUE(auth->Authenticate(text, kNow).ok());

  auto cli = ApiKeyFile::Load(path_);  // what `cityhub keys revoke` does
  ASSERT_TRUE(cli.ok());
  ASSERT_TRUE(cli->Revoke(text.substr(4, 12), kNow + 5).ok());  // by id
  ASSERT_TRUE(cli->Save(path_).ok());

  // Within reload_check the set in force is not re-read (no stat() per request) ...
  EXPECT_TRUE(auth->Authenticate(text, kNow).ok());
  // ... after it, the revocation holds.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  ExpectUnauthenticated(auth->Authenticate(text, kNow), "revoked");
}

TEST_F(ApiKeysTest, KeysAddedLaterAreAcceptedAfterReload) {
  auto auth = OpenAuth();  // no file yet
  EXPECT_EQ(auth->size(), 0u);
  const std::string text = CreateOne();
  EXPECT_TRUE(auth->Authenticate(text, kNow).ok());
  EXPECT_EQ(auth->size(), 1u);
}

TEST_F(ApiKeysTest, CorruptFileOnReloadKeepsTheKeysHeld) {
  const std::string text = CreateOne();
  auto auth = OpenAuth();
  ASSERT_TRUE(auth->Authenticate(text, kNow).ok());
  WriteFile("{\"version\":1,\"keys\":[{\"id\":");
  EXPECT_TRUE(auth->Authenticate(text, kNow).ok());
  EXPECT_TRUE(auth->Authenticate(text, kNow).ok());  // checked again: still the old set
  EXPECT_EQ(auth->size(), 1u);
}

TEST_F(ApiKeysTest, RemovedFileWithdrawsEveryKey) {
  const std::string text = CreateOne();
  auto auth = OpenAuth();
  ASSERT_TRUE(auth->Authenticate(text, kNow).ok());
  std::filesystem::remove(path_);
  ExpectUnauthenticated(auth->Authenticate(text, kNow), "unknown or wrong API key");
}

TEST_F(ApiKeysTest, InvalidNamesAreRefused) {
  ApiKeyFile file;
  for (std::string name : {std::string(), std::string(65, 'a'), std::string("has space"), std::string("a/b"),
                           std::string("ünï"), std::string("0123456789ab")}) {
    auto r = file.Create(name, {"reader"}, 0, kNow);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), Status::Code::kBadRequestData) << name;
    EXPECT_THAT(r.status().message(), HasSubstr("key name")) << name;
  }
  EXPECT_TRUE(file.Create(std::string(64, 'a'), {"reader"}, 0, kNow).ok());
  EXPECT_TRUE(file.Create("Gate_way-1.north", {"reader"}, 0, kNow).ok());
}

TEST_F(ApiKeysTest, InvalidRolesAreRefused) {
  ApiKeyFile file;
  auto none = file.Create("k", {}, 0, kNow);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("at least one role"));
  for (std::string role : {std::string(), std::string(":reader"), std::string("city:"), std::string("a:b:c"),
                           std::string("-city:reader"), std::string("ci ty:reader"), std::string("read er"),
                           std::string(65, 'r'), std::string("**:reader")}) {
    auto r = file.Create("k", {"reader", role}, 0, kNow);
    ASSERT_FALSE(r.ok()) << role;
    EXPECT_EQ(r.status().code(), Status::Code::kBadRequestData) << role;
    EXPECT_THAT(r.status().message(), HasSubstr("role '" + role + "'")) << role;
  }
  EXPECT_TRUE(file.keys().empty());
  auto ok = file.Create("k", {"reader", "*:admin", "city_1:custom-role", "reader"}, 0, kNow);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_THAT(file.keys()[0].roles, ElementsAre("reader", "*:admin", "city_1:custom-role"));
}

TEST_F(ApiKeysTest, NamesAreUniqueAmongKeysNotRevoked) {
  ApiKeyFile file;
  ASSERT_TRUE(file.Create("gw", {"writer"}, 0, kNow).ok());
  auto dup = file.Create("gw", {"writer"}, 0, kNow);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), Status::Code::kAlreadyExists);
  ASSERT_TRUE(file.Revoke("gw", kNow).ok());
  EXPECT_TRUE(file.Create("gw", {"writer"}, 0, kNow).ok());
  EXPECT_EQ(file.keys().size(), 2u);
}

TEST_F(ApiKeysTest, ExpiryMustBeInTheFuture) {
  ApiKeyFile file;
  EXPECT_EQ(file.Create("k", {"reader"}, kNow, kNow).status().code(), Status::Code::kBadRequestData);
  EXPECT_EQ(file.Create("k", {"reader"}, -1, kNow).status().code(), Status::Code::kBadRequestData);
  EXPECT_TRUE(file.Create("k", {"reader"}, kNow + 1, kNow).ok());
}

TEST_F(ApiKeysTest, RevokeUnknownOrAlreadyRevokedIsNotFound) {
  ApiKeyFile file;
  EXPECT_TRUE(file.Revoke("nobody", kNow).IsNotFound());
  ASSERT_TRUE(file.Create("gw", {"writer"}, 0, kNow).ok());
  ASSERT_TRUE(file.Revoke("gw", kNow).ok());
  EXPECT_EQ(file.keys()[0].revoked_at, kNow);
  EXPECT_TRUE(file.Revoke("gw", kNow + 1).IsNotFound());
  EXPECT_EQ(file.keys()[0].revoked_at, kNow);
}

TEST_F(ApiKeysTest, InvalidFilesAreRefusedNamingTheField) {
  const std::string good_hash(64, 'a');
  auto key = [&](const std::string& fields) { return "{\"version\":1,\"keys\":[" + fields + "]}"; };
  const std::string valid = R"("id":"0123456789ab","name":"gw","sha256":")" + good_hash +
                            R"(","roles":["writer"],"created_at":1,"expires_at":0,"revoked_at":0)";
  WriteFile(key("{" + valid + "}"));
  ASSERT_TRUE(ApiKeyFile::Load(path_).ok()) << ApiKeyFile::Load(path_).status().message();

  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not json", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"version":2,"keys":[]})", "'version' must be 1"},
      {R"({"version":1})", "'keys' must be an array"},
      {R"({"version":1,"keys":[],"extra":1})", "unknown field 'extra'"},
      {key("1"), "keys[0]: not an object"},
      {key("{" + valid + R"(,"revoked":5})"), "keys[0].revoked: unknown field"},
      {key(R"({"name":"gw"})"), "keys[0].id: missing"},
      {key("{" + valid + "},{" + valid + "}"), "keys[1].id: '0123456789ab' is used twice"},
      {key(R"({"id":"0123456789AB","name":"gw","sha256":")" + good_hash + R"(","roles":["writer"],"created_at":1,"expires_at":0,"revoked_at":0})"), "keys[0].id: not 12 lower-case hex"},
      {key(R"({"id":"0123456789ab","name":"g w","sha256":")" + good_hash + R"(","roles":["writer"],"created_at":1,"expires_at":0,"revoked_at":0})"), "keys[0].name:"},
      {key(R"({"id":"0123456789ab","name":"gw","sha256":"abc","roles":["writer"],"created_at":1,"expires_at":0,"revoked_at":0})"), "keys[0].sha256: not 64"},
      {key(R"({"id":"0123456789ab","name":"gw","sha256":")" + good_hash + R"(","roles":[],"created_at":1,"expires_at":0,"revoked_at":0})"), "keys[0].roles: not a non-empty array"},
      {key(R"({"id":"0123456789ab","name":"gw","sha256":")" + good_hash + R"(","roles":["a:b:c"],"created_at":1,"expires_at":0,"revoked_at":0})"), "keys[0].roles: role 'a:b:c'"},
      {key(R"({"id":"0123456789ab","name":"gw","sha256":")" + good_hash + R"(","roles":["writer"],"created_at":-1,"expires_at":0,"revoked_at":0})"), "keys[0].created_at:"},
      {key(R"({"id":"0123456789ab","name":"gw","sha256":")" + good_hash + R"(","roles":["writer"],"created_at":1,"expires_at":"never","revoked_at":0})"), "keys[0].expires_at:"},
      {key(R"({"id":"0123456789ab","name":"gw","sha256":")" + good_hash + R"(","roles":["writer"],"created_at":1,"expires_at":0,"revoked_at":1.5})"), "keys[0].revoked_at:"},
  };
  for (const Case& c : cases) {
    WriteFile(c.text);
    auto r = ApiKeyFile::Load(path_);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Status::Code::kBadRequestData) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(path_)) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message)) << c.text;
    EXPECT_FALSE(ApiKeyAuthenticator::Open(path_).ok()) << c.text;
  }
}

TEST_F(ApiKeysTest, ConcurrentAuthenticationDuringReloads) {
  const std::string text = CreateOne();
  auto auth = OpenAuth();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        if (!auth->Authenticate(text, kNow).ok()) ++failures;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    auto file = ApiKeyFile::Load(path_);
    if (!file.ok() || !file->Create("other-" + std::to_string(i), {"reader"}, 0, kNow).ok() || !file->Save(path_).ok()) {
      ADD_FAILURE() << "cannot add key " << i;
      break;
    }
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(auth->Authenticate(text, kNow).ok());
  EXPECT_EQ(auth->size(), 21u);
}

}  // namespace
}  // namespace cityhub::security
