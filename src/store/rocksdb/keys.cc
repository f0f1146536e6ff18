#include "store/rocksdb/keys.h"

#include <algorithm>

#include <fmt/format.h>

namespace cityhub::store::rocks {

std::string HistoryPrefix(std::string_view id, std::string_view attr) {
  std::string key;
  key.reserve(id.size() + attr.size() + 11);
  key.push_back(kHistoryBlockTag);
  key.append(id);
  key.push_back('\0');
  key.append(attr);
  key.push_back('\0');
  return key;
}

std::string HistoryKey(std::string_view id, std::string_view attr, int64_t block) {
  std::string key = HistoryPrefix(id, attr);
  uint64_t ordered = static_cast<uint64_t>(block) ^ (uint64_t{1} << 63);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((ordered >> shift) & 0xff));
  return key;
}

int64_t HistoryBlockOf(std::string_view key) {
  uint64_t ordered = 0;
  for (unsigned char c : key.substr(key.size() - 8)) ordered = (ordered << 8) | c;
  return static_cast<int64_t>(ordered ^ (uint64_t{1} << 63));
}

std::string HistoryEntityKey(std::string_view id) {
  std::string key(1, kHistoryEntityTag);
  key.append(id);
  return key;
}

std::string OutboxKey(uint64_t sequence) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, sequence >>= 8) key[i] = static_cast<char>(sequence & 0xff);
  return key;
}

uint64_t OutboxSequence(std::string_view key) {
  uint64_t sequence = 0;
  for (unsigned char c : key.substr(0, 8)) sequence = (sequence << 8) | c;
  return sequence;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::Internal(fmt::format("rocksdb {}: {}", what, s.ToString()));
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto last = static_cast<unsigned char>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

std::string IndexPrefix(char tag, std::string_view value) {
  std::string key;
  key.reserve(value.size() + 2);
  key.push_back(tag);
  key.append(value);
  key.push_back('\0');
  return key;
}

std::string IndexPrefix(char tag, std::string_view first, std::string_view second) {
  std::string key = IndexPrefix(tag, first);
  key.append(second);
  key.push_back('\0');
  return key;
}

std::string TermKey(std::string_view term, std::string_view id) {
  std::string key;
  key.reserve(1 + term.size() + id.size() + 2);
  key.push_back(kTermTag);
  key.append(term).append(id);
  key.push_back(static_cast<char>((id.size() >> 8) & 0xff));
  key.push_back(static_cast<char>(id.size() & 0xff));
  return key;
}

bool SplitTermKey(std::string_view rest, std::string_view* term, std::string_view* id) {
  if (rest.size() < 2) return false;
  size_t length = (static_cast<size_t>(static_cast<uint8_t>(rest[rest.size() - 2])) << 8) |
                  static_cast<uint8_t>(rest[rest.size() - 1]);
  if (length + 2 > rest.size()) return false;
  *id = rest.substr(rest.size() - 2 - length, length);
  *term = rest.substr(0, rest.size() - 2 - length);
  return true;
}

std::string EncodeCount(int64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  return out;
}

int64_t DecodeCount(std::string_view in) {
  if (in.size() != 8) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return static_cast<int64_t>(v);
}

// Where an id-ordered scan starts (inclusive) within keys beginning with `key_prefix`.
std::string ScanStart(std::string_view key_prefix, const ScanOptions& opts) {
  std::string start(opts.id_prefix);
  if (!opts.after_id.empty()) {
    std::string after = opts.after_id;
    after.push_back('\0');  // the smallest id strictly greater than after_id
    start = std::max(start, after);
  }
  return std::string(key_prefix) + start;
}

// Where it ends (exclusive); empty = the end of the family.
std::string ScanEnd(std::string_view key_prefix, const ScanOptions& opts) {
  std::string id_end = PrefixSuccessor(opts.id_prefix);
  if (id_end.empty()) return PrefixSuccessor(key_prefix);
  return std::string(key_prefix) + id_end;
}

}  // namespace cityhub::store::rocks
