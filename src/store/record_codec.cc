#include "store/record_codec.h"

namespace cityhub::store {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

void PutStrings(std::string* out, const std::vector<std::string>& strings) {
  PutVarint(out, strings.size());
  for (const auto& s : strings) {
    PutVarint(out, s.size());
    out->append(s);
  }
}

bool GetStrings(std::string_view* in, std::vector<std::string>* strings) {
  uint64_t count = 0;
  if (!GetVarint(in, &count) || count > in->size()) return false;
  strings->clear();
  strings->reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t length = 0;
    if (!GetVarint(in, &length) || length > in->size()) return false;
    strings->emplace_back(in->substr(0, length));
    in->remove_prefix(length);
  }
  return true;
}

void PutTerms(std::string* out, const std::vector<IndexTerm>& terms) {
  PutVarint(out, terms.size());
  for (const auto& term : terms) {
    PutVarint(out, term.key.size());
    out->append(term.key);
    PutVarint(out, term.payload.size());
    out->append(term.payload);
  }
}

bool GetString(std::string_view* in, std::string* s) {
  uint64_t length = 0;
  if (!GetVarint(in, &length) || length > in->size()) return false;
  s->assign(in->substr(0, length));
  in->remove_prefix(length);
  return true;
}

bool GetTerms(std::string_view* in, std::vector<IndexTerm>* terms) {
  uint64_t count = 0;
  if (!GetVarint(in, &count) || count > in->size()) return false;
  terms->resize(count);
  for (auto& term : *terms) {
    if (!GetString(in, &term.key) || !GetString(in, &term.payload)) return false;
  }
  return true;
}

std::string EncodeRecord(const EntityRecord& record) {
  std::string out;
  out.reserve(record.document.size() + 64 + record.terms.size() * 48);
  out.push_back(static_cast<char>(kRecordFormat));
  PutStrings(&out, record.types);
  PutStrings(&out, record.attributes);
  PutTerms(&out, record.terms);
  out.append(record.document);
  return out;
}

// Fills everything but the id. Returns false if `value` is not a record of a known format.
bool DecodeRecord(std::string_view value, EntityRecord* record) {
  if (value.empty()) return false;
  const auto format = static_cast<uint8_t>(value.front());
  if (format != kRecordFormat && format != kRecordFormatV1) return false;
  value.remove_prefix(1);
  if (!GetStrings(&value, &record->types) || !GetStrings(&value, &record->attributes)) {
    return false;
  }
  record->terms.clear();
  if (format == kRecordFormat && !GetTerms(&value, &record->terms)) return false;
  record->document.assign(value);
  return true;
}

}  // namespace cityhub::store
