// CsvReader: a streaming RFC 4180 reader for GTFS files. It is fed a file in chunks of any size
// and hands each complete record to a callback, so it never holds more than one record. The
// reader owns its record buffer; the views it hands out live only during the callback.
// Not thread-safe: one reader per file.
//
// Accepted: quoted fields with "" escapes and embedded commas and newlines; CRLF or LF line
// ends (a CR outside quotes is dropped); a UTF-8 BOM at the start; empty lines (skipped
// silently). The first record is the header; header names are trimmed of spaces and looked up
// by name, so column order is free and unknown columns are ignored.
//
// Errors. A broken record — a stray quote, a quote never closed, more or fewer fields than the
// header (unless CsvLimits::pad_short_records) — is a per-record problem: reported through the problem callback with the line it
// starts on, and skipped up to the next line end. A record longer than CsvLimits::max_record_bytes
// is fatal for the file (Feed returns PayloadTooLarge naming file and line): memory stays bounded
// even on a file that is one endless line.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace cityhub::mobility::gtfs {

inline constexpr size_t kDefaultMaxCsvRecordBytes = size_t{1} << 20;  // 1 MiB
inline constexpr size_t kMaxCsvFields = 1024;                          // columns in one record

struct CsvLimits {
  size_t max_record_bytes = kDefaultMaxCsvRecordBytes;
  // When true, a record with fewer fields than the header gets empty fields for the missing
  // trailing ones instead of being reported and skipped (real GTFS feeds, the reference's own
  // sample among them, omit trailing empty fields). Too many fields is always a problem.
  bool pad_short_records = false;
};

// One data record; `fields` view the reader's buffer and are valid only during the callback.
struct CsvRecord {
  uint64_t line = 0;  // 1-based physical line the record starts on (the header is line 1)
  std::vector<std::string_view> fields;
};

// One column a table reader asks for by name.
struct ColumnSpec {
  std::string_view name;
  bool required;
};

// A data record with its columns looked up by the position they were asked for in (the
// ColumnSpec list), trimmed of spaces and tabs; an absent column reads as empty. Views the
// record, so it lives only during the record callback.
class Row {
 public:
  Row(const CsvRecord& record, const std::vector<std::optional<size_t>>& index)
      : record_(record), index_(index) {}
  std::string_view operator[](size_t column) const {
    const auto& i = index_[column];
    if (!i) return {};
    std::string_view s = record_.fields[*i];
    size_t begin = s.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return {};
    return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
  }
  uint64_t line() const { return record_.line; }

 private:
  const CsvRecord& record_;
  const std::vector<std::optional<size_t>>& index_;
};

class CsvReader {
 public:
  // Called once with the header's names (after the BOM, trimmed). A non-ok Status stops reading.
  using HeaderCallback = std::function<Status(const std::vector<std::string>& names)>;
  // Called for each well-formed data record. A non-ok Status stops reading.
  using RecordCallback = std::function<Status(const CsvRecord& record)>;
  // Called for each broken record, which is then skipped.
  using ProblemCallback = std::function<void(uint64_t line, std::string reason)>;

  CsvReader(std::string file_name, HeaderCallback on_header, RecordCallback on_record,
            ProblemCallback on_problem, CsvLimits limits = {});

  // Consumes the next bytes of the file. Returns the first non-ok Status of a callback, or
  // PayloadTooLarge for an over-long record; after an error the reader must not be fed again.
  Status Feed(std::string_view chunk);
  // Ends the file: emits a last record without a line end, reports an unclosed quote.
  Status Finish();

  // The header's column index of `name`, or nullopt (also before the header was read).
  std::optional<size_t> ColumnIndex(std::string_view name) const;
  const std::string& file_name() const { return file_name_; }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted, kSkipLine };

  Status Consume(char c);
  Status EndRecord();
  void EndField();
  void Fail(std::string reason);
  Status Append(char c);
  Status AppendRun(std::string_view bytes);
  size_t OrdinaryRun(std::string_view rest) const;

  std::string file_name_;
  HeaderCallback on_header_;
  RecordCallback on_record_;
  ProblemCallback on_problem_;
  CsvLimits limits_;

  State state_ = State::kFieldStart;
  size_t bom_matched_ = 0;   // bytes of the BOM seen at the start of the file
  bool bom_done_ = false;
  uint64_t line_ = 1;         // physical line of the next byte
  uint64_t record_line_ = 1;  // line the current record started on
  std::string buffer_;        // the current record's field bytes, fields back to back
  std::vector<size_t> field_ends_;
  bool record_has_content_ = false;
  std::vector<std::string> header_;
  CsvRecord record_;
};

}  // namespace cityhub::mobility::gtfs
