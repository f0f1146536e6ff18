// How the store encodes an EntityRecord's parts beside the broker's document (types,
// attributes, index terms): one byte-string per record, the same for every backend (RocksDB
// keeps it as the value of the entity's key, PostgreSQL in the entity's row). The format byte
// leads, so a record written by an older version is still read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace cityhub::store {

inline constexpr uint8_t kRecordFormatV1 = 1;  // no terms
inline constexpr uint8_t kRecordFormat = 2;

// The record but its id (the key it is stored under).
std::string EncodeRecord(const EntityRecord& record);
// Fills everything but the id. False if `value` is not a record of a known format.
bool DecodeRecord(std::string_view value, EntityRecord* record);

// The pieces, for other keys and values of the backends: LEB128 varints and length-prefixed
// strings. The Get* functions consume what they read from *in; false on truncated input.
void PutVarint(std::string* out, uint64_t v);
bool GetVarint(std::string_view* in, uint64_t* v);
void PutStrings(std::string* out, const std::vector<std::string>& strings);
bool GetStrings(std::string_view* in, std::vector<std::string>* strings);
bool GetString(std::string_view* in, std::string* s);
void PutTerms(std::string* out, const std::vector<IndexTerm>& terms);
bool GetTerms(std::string_view* in, std::vector<IndexTerm>* terms);

}  // namespace cityhub::store
