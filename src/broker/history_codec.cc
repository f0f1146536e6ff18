#include "broker/history_codec.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <charconv>
#include <cstring>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "store/hub_slot.h"
#include "util/json.h"

namespace cityhub::broker {
namespace json = boost::json;

namespace {

constexpr uint8_t kObserved = 1, kDeleted = 2, kModified = 4, kRetraction = 8, kFraction = 0x80;
constexpr uint8_t kKindMask = 0x70;
constexpr std::string_view kInstancePrefix = "urn:ngsi-ld:Instance:";

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void PutSigned(std::string* out, int64_t v) {
  PutVarint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}
void PutBytes(std::string* out, std::string_view bytes) {
  PutVarint(out, bytes.size());
  out->append(bytes);
}

bool GetVarint(std::string_view in, size_t* pos, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in[(*pos)++]);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;
}
bool GetSigned(std::string_view in, size_t* pos, int64_t* v) {
  uint64_t u = 0;
  if (!GetVarint(in, pos, &u)) return false;
  *v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
  return true;
}
bool GetBytes(std::string_view in, size_t* pos, std::string_view* bytes) {
  uint64_t n = 0;
  if (!GetVarint(in, pos, &n) || n > in.size() - *pos) return false;
  *bytes = in.substr(*pos, n);
  *pos += n;
  return true;
}

// a + b, false if that overflows (corrupt bytes may hold any delta).
bool Add(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

bool IsTimeMember(std::string_view key) {
  return key == "observedAt" || key == "createdAt" || key == "modifiedAt" || key == "deletedAt" ||
         key == "instanceId";
}

}  // namespace

int64_t HistoryBlockOf(int64_t ms) {
  int64_t q = ms / kHistoryBlockMs;
  return (ms % kHistoryBlockMs < 0) ? q - 1 : q;
}
int64_t HistoryBlockStartMs(int64_t block) { return block * kHistoryBlockMs; }

int64_t HistoryInstance::TimeMs() const {
  if (observed_ms) return *observed_ms;
  if (deleted_ms) return *deleted_ms;
  return stamp_us / 1000;
}
int64_t InstanceView::TimeMs() const {
  if (observed_ms) return *observed_ms;
  if (deleted_ms) return *deleted_ms;
  return stamp_us / 1000;
}

void EncodeHistoryInstance(const HistoryInstance& inst, int64_t block, std::string* out) {
  const int64_t start_ms = HistoryBlockStartMs(block);
  std::string body;
  body.reserve(32);
  uint8_t flags = 0;
  if (inst.observed_ms) flags |= kObserved;
  if (inst.deleted_ms) flags |= kDeleted;
  if (inst.modified_us != inst.stamp_us) flags |= kModified;
  if (inst.observed_ms && inst.observed_fraction != util::TimeFraction{}) flags |= kFraction;

  // The fast kinds: a Property whose value is a number, a boolean or a string.
  InstanceView::Kind kind = InstanceView::Kind::kJson;
  const json::value* value = nullptr;
  const json::value* type = inst.instance.if_contains("type");
  if (type && type->is_string() && type->get_string() == "Property") {
    value = inst.instance.if_contains("value");
    if (value) {
      if (value->is_double()) kind = InstanceView::Kind::kDouble;
      else if (value->is_int64()) kind = InstanceView::Kind::kInt;
      else if (value->is_bool()) kind = value->get_bool() ? InstanceView::Kind::kTrue : InstanceView::Kind::kFalse;
      else if (value->is_string()) kind = InstanceView::Kind::kString;
    }
  }
  flags |= static_cast<uint8_t>(static_cast<uint8_t>(kind) << 4);
  body.push_back(static_cast<char>(flags));
  PutSigned(&body, inst.stamp_us - start_ms * 1000);
  if (flags & kModified) PutSigned(&body, inst.modified_us - inst.stamp_us);
  if (inst.observed_ms) PutSigned(&body, *inst.observed_ms - start_ms);
  if (flags & kFraction) {
    PutVarint(&body, uint64_t{inst.observed_fraction.sub_ms_ns} * 16 + inst.observed_fraction.digits);
  }
  if (inst.deleted_ms) PutSigned(&body, *inst.deleted_ms - start_ms);
  if (kind == InstanceView::Kind::kJson) {
    json::object rest;
    for (const auto& [key, val] : inst.instance) {
      if (!IsTimeMember(key)) rest[key] = val;
    }
    PutBytes(&body, util::SerializeJson(rest));
  } else {
    switch (kind) {
      case InstanceView::Kind::kDouble: {
        const auto bits = std::bit_cast<uint64_t>(value->get_double());
        for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
        break;
      }
      case InstanceView::Kind::kInt:
        PutSigned(&body, value->get_int64());
        break;
      case InstanceView::Kind::kString:
        PutBytes(&body, value->get_string());
        break;
      default:
        break;
    }
    json::object extras;
    for (const auto& [key, val] : inst.instance) {
      if (key != "type" && key != "value" && !IsTimeMember(key)) extras[key] = val;
    }
    PutBytes(&body, extras.empty() ? std::string() : util::SerializeJson(extras));
  }
  PutVarint(out, body.size());
  out->append(body);
}

void EncodeRetraction(int64_t stamp_us, int64_t block, std::string* out) {
  std::string body(1, static_cast<char>(kRetraction));
  PutSigned(&body, stamp_us - HistoryBlockStartMs(block) * 1000);
  PutVarint(out, body.size());
  out->append(body);
}

std::vector<std::pair<int64_t, size_t>> RetractionsIn(std::string_view bytes, int64_t block) {
  std::vector<std::pair<int64_t, size_t>> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t at = pos;
    std::string_view rec;
    if (!GetBytes(bytes, &pos, &rec) || rec.empty()) break;  // the full decode reports it
    if (!(static_cast<uint8_t>(rec[0]) & kRetraction)) continue;
    size_t p = 1;
    int64_t v = 0, start_us = 0, stamp = 0;
    if (!GetSigned(rec, &p, &v) || __builtin_mul_overflow(HistoryBlockStartMs(block), int64_t{1000}, &start_us) ||
        !Add(start_us, v, &stamp)) {
      break;  // the full decode reports it
    }
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& r) { return r.first == stamp; });
    if (it == out.end()) {
      out.emplace_back(stamp, at);
    } else {
      it->second = at;
    }
  }
  return out;
}

bool DecodeHistoryRecord(std::string_view bytes, size_t* pos, int64_t block, InstanceView* view, bool* retraction,
                         std::string* error) {
  const int64_t start_ms = HistoryBlockStartMs(block);
  int64_t start_us = 0;
  if (__builtin_mul_overflow(start_ms, int64_t{1000}, &start_us)) {
    *error = fmt::format("history block {} is out of range", block);
    return false;
  }
  std::string_view rec;
  if (!GetBytes(bytes, pos, &rec) || rec.empty()) {
    *error = fmt::format("history block {}: truncated record at byte {}", block, *pos);
    return false;
  }
  size_t p = 0;
  const auto flags = static_cast<uint8_t>(rec[p++]);
  *view = InstanceView{};
  int64_t v = 0;
  bool ok = GetSigned(rec, &p, &v) && Add(start_us, v, &view->stamp_us);
  *retraction = (flags & kRetraction) != 0;
  if (*retraction) {
    if (!ok || p != rec.size()) {
      *error = fmt::format("history block {}: malformed retraction", block);
      return false;
    }
    return true;
  }
  view->modified_us = view->stamp_us;
  if (ok && (flags & kModified)) {
    ok = GetSigned(rec, &p, &v) && Add(view->stamp_us, v, &view->modified_us);
  }
  int64_t t = 0;
  if (ok && (flags & kObserved)) {
    ok = GetSigned(rec, &p, &v) && Add(start_ms, v, &t);
    view->observed_ms = t;
  }
  if (ok && (flags & kFraction)) {
    uint64_t f = 0;
    ok = (flags & kObserved) && GetVarint(rec, &p, &f) && f % 16 <= 9 && f / 16 < 1'000'000;
    view->observed_fraction = {static_cast<uint8_t>(f % 16), static_cast<uint32_t>(f / 16)};
  }
  if (ok && (flags & kDeleted)) {
    ok = GetSigned(rec, &p, &v) && Add(start_ms, v, &t);
    view->deleted_ms = t;
  }
  const auto kind = static_cast<uint8_t>((flags & kKindMask) >> 4);
  if (ok && kind > static_cast<uint8_t>(InstanceView::Kind::kJson)) ok = false;
  view->kind = static_cast<InstanceView::Kind>(kind);
  if (ok) {
    switch (view->kind) {
      case InstanceView::Kind::kDouble: {
        if (rec.size() - p < 8) {
          ok = false;
          break;
        }
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>(rec[p + i])) << (8 * i);
        p += 8;
        view->number = std::bit_cast<double>(bits);
        break;
      }
      case InstanceView::Kind::kInt:
        ok = GetSigned(rec, &p, &view->integer);
        view->number = static_cast<double>(view->integer);
        break;
      case InstanceView::Kind::kTrue:
        view->number = 1;
        break;
      case InstanceView::Kind::kFalse:
        view->number = 0;
        break;
      case InstanceView::Kind::kString:
      case InstanceView::Kind::kJson:
        ok = GetBytes(rec, &p, &view->text);
        break;
    }
  }
  if (ok && view->kind != InstanceView::Kind::kJson) ok = GetBytes(rec, &p, &view->extras);
  if (!ok || p != rec.size()) {
    *error = fmt::format("history block {}: malformed record", block);
    return false;
  }
  return true;
}

Result<HistoryInstance> InstanceView::Materialize() const {
  HistoryInstance out;
  out.stamp_us = stamp_us;
  out.modified_us = modified_us;
  out.observed_ms = observed_ms;
  out.observed_fraction = observed_fraction;
  out.deleted_ms = deleted_ms;
  auto parse = [](std::string_view text, json::object* into) {
    boost::system::error_code ec;
    json::value v = util::ParseJson(text, ec);
    if (ec || !v.is_object()) return false;
    *into = std::move(v.get_object());
    return true;
  };
  if (kind == Kind::kJson) {
    if (!parse(text, &out.instance)) return Status::Internal("history: unreadable instance");
    return out;
  }
  out.instance["type"] = "Property";
  switch (kind) {
    case Kind::kDouble: out.instance["value"] = number; break;
    case Kind::kInt: out.instance["value"] = integer; break;
    case Kind::kTrue: out.instance["value"] = true; break;
    case Kind::kFalse: out.instance["value"] = false; break;
    case Kind::kString: out.instance["value"] = text; break;
    case Kind::kJson: break;
  }
  if (!extras.empty()) {
    json::object more;
    if (!parse(extras, &more)) return Status::Internal("history: unreadable instance");
    for (auto& [key, val] : more) out.instance[key] = std::move(val);
  }
  return out;
}

std::string InstanceIdOf(int64_t stamp_us) { return fmt::format("{}{}", kInstancePrefix, stamp_us); }

std::optional<int64_t> StampOfInstanceId(std::string_view id) {
  if (!id.starts_with(kInstancePrefix)) return std::nullopt;
  id.remove_prefix(kInstancePrefix.size());
  int64_t stamp = 0;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), stamp);
  if (ec != std::errc() || end != id.data() + id.size()) return std::nullopt;
  return stamp;
}

int64_t NextHistoryStamp() {
  static std::atomic<int64_t> last{0};
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const store::HubSlot hub = store::CurrentHubSlot();
  const int64_t slots = hub.slots, slot = hub.slot;
  int64_t prev = last.load(std::memory_order_relaxed);
  int64_t next;
  do {
    const int64_t at_least = std::max(now, prev + 1);
    next = at_least + ((slot - at_least % slots) % slots + slots) % slots;  // the first ≡ slot
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return next;
}

}  // namespace cityhub::broker
