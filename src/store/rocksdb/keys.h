// The key layout and value encodings of the RocksDB backend (one database per tenant, five
// column families), and the conversions between RocksDB's and cityhub's status and slices.
// Only the files of src/store/rocksdb/ include this.
//
// Key layout (schema version 4), five column families:
//
//   entities  <id>                      -> record: format byte 0x02, varint count + (varint
//                                          length, bytes) for types, same for attributes,
//                                          varint count + (key, payload) pairs for terms,
//                                          then the document bytes up to the end (format
//                                          0x01, written by schema version 1, has no terms)
//   index     T<type>\0<id>             -> ""   entities by type (typed scans, ListTypes)
//             X<term><id><len>          -> payload   the broker's terms (value and spatial
//                                          indexes); <len> is the id's length as 2 bytes big
//                                          endian, so the id is found from the key's end
//             N<type>\0                 -> int64 count of entities having the type
//             M<attr>\0                 -> int64 count of entities having the attribute
//             C<type>\0<attr>\0         -> int64 count of entities of the type having it
//   outbox    <sequence, 8 bytes BE>    -> a notification owed (broker's format), from the write
//                                          that owes it until delivered (version 3)
//   history   A<id>\0<attr>\0<block>     -> a block of attribute instances (the broker's
//                                          encoding); <block> is the int64 block number as 8
//                                          bytes big endian with the sign bit flipped, so key
//                                          order is block order. Appends are merges that
//                                          concatenate (merge_operators.h). (version 4)
//             E<id>                     -> the broker's header of an entity with history
//   meta      schema_version            -> decimal version of this layout
//             u/<key>                   -> user metadata (GetMeta/PutMeta/...)
//
// The counters are 8-byte little-endian int64 values changed only through RocksDB merges of
// deltas (merge_operators.h): merges commute, so concurrent writers need no lock, and one
// write sums its deltas first — a batch of 1,000 new ParkingSpots adds one T key per entity
// and about a dozen merges in all, where a key per (entity, attribute) would add thousands of
// memtable inserts (measured: they made memtable insertion 40 % of the CPU of a batch load).
// A counter that falls to 0 stays as a key and is skipped by the listings.
//
// Types and attribute names may not contain NUL (they are IRIs), so '\0' ends them. Listings
// read counters, one key per distinct value (or pair): their cost is the number of distinct
// types and attributes, not the number of entities. Ids are always the last component of a T
// key, so they may hold any byte and a type range is in ascending id order, the order every
// scan promises.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include "store/store.h"
#include "util/status.h"

namespace cityhub::store::rocks {

inline constexpr char kEntitiesFamily[] = "entities";
inline constexpr char kIndexFamily[] = "index";
inline constexpr char kMetaFamily[] = "meta";
inline constexpr char kOutboxFamily[] = "outbox";
inline constexpr char kHistoryFamily[] = "history";

inline constexpr std::string_view kSchemaVersionKey = "schema_version";
inline constexpr std::string_view kUserMetaPrefix = "u/";

// First byte of the keys of the index family.
inline constexpr char kTypeTag = 'T';
inline constexpr char kTypeCountTag = 'N';
inline constexpr char kAttrCountTag = 'M';
inline constexpr char kTypeAttrCountTag = 'C';
inline constexpr char kTermTag = 'X';
// First byte of the keys of the history family.
inline constexpr char kHistoryBlockTag = 'A';
inline constexpr char kHistoryEntityTag = 'E';

// A history key's prefix for every block of (id, attr): A<id>\0<attr>\0.
std::string HistoryPrefix(std::string_view id, std::string_view attr);
std::string HistoryKey(std::string_view id, std::string_view attr, int64_t block);
int64_t HistoryBlockOf(std::string_view key);
std::string HistoryEntityKey(std::string_view id);

// Outbox keys: the sequence, 8 bytes big endian, so key order is sequence order.
std::string OutboxKey(uint64_t sequence);
uint64_t OutboxSequence(std::string_view key);

// <tag><value>\0 and <tag><first>\0<second>\0.
std::string IndexPrefix(char tag, std::string_view value);
std::string IndexPrefix(char tag, std::string_view first, std::string_view second);
// X<term><id><2-byte id length>: ids hold any byte, so their length ends the key.
std::string TermKey(std::string_view term, std::string_view id);
// Splits a term key (without the tag) into term and id; false if it is malformed.
bool SplitTermKey(std::string_view rest, std::string_view* term, std::string_view* id);

// Counters are stored as 8-byte little-endian two's complement int64 values.
std::string EncodeCount(int64_t v);
int64_t DecodeCount(std::string_view in);

// The smallest key greater than every key starting with `prefix`; empty if there is none.
std::string PrefixSuccessor(std::string_view prefix);
// Where an id-ordered scan starts (inclusive) within keys beginning with `key_prefix`, and
// where it ends (exclusive; empty = the end of the family).
std::string ScanStart(std::string_view key_prefix, const ScanOptions& opts);
std::string ScanEnd(std::string_view key_prefix, const ScanOptions& opts);

inline std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }
// What every call answers once the store is closed.
inline Status Unavailable() { return Status(Status::Code::kUnavailable, "store is closed"); }
// Ok, or Internal "rocksdb <what>: <RocksDB's message>".
Status FromRocks(const rocksdb::Status& s, std::string_view what);

}  // namespace cityhub::store::rocks
