// CsvReader: a byte-at-a-time state machine over RFC 4180. One byte at a time keeps chunk
// boundaries irrelevant (a quote, CRLF or BOM split across two chunks needs no special case).
// Runs of plain field bytes bypass it and are copied whole: that is most of a GTFS file, and
// per-byte dispatch was the largest cost of an import.
#include "services/mobility/gtfs/csv.h"

#include <fmt/format.h>

namespace cityhub::mobility::gtfs {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

std::string Trim(std::string_view s) {
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(" \t");
  return std::string(s.substr(begin, end - begin + 1));
}

}  // namespace

CsvReader::CsvReader(std::string file_name, HeaderCallback on_header, RecordCallback on_record,
                     ProblemCallback on_problem, CsvLimits limits)
    : file_name_(std::move(file_name)),
      on_header_(std::move(on_header)),
      on_record_(std::move(on_record)),
      on_problem_(std::move(on_problem)),
      limits_(limits) {}

std::optional<size_t> CsvReader::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return i;
  }
  return std::nullopt;
}

Status CsvReader::Feed(std::string_view chunk) {
  size_t i = 0;
  while (!bom_done_ && i < chunk.size()) {
    if (chunk[i] == kBom[bom_matched_]) {
      ++i;
      if (++bom_matched_ == kBom.size()) bom_done_ = true;
      continue;
    }
    // Not a BOM after all: replay the bytes taken for one.
    bom_done_ = true;
    for (size_t k = 0; k < bom_matched_; ++k) CITYHUB_RETURN_IF_ERROR(Consume(kBom[k]));
  }
  while (i < chunk.size()) {
    size_t run = OrdinaryRun(chunk.substr(i));
    if (run > 0) {
      CITYHUB_RETURN_IF_ERROR(AppendRun(chunk.substr(i, run)));
      i += run;
      continue;
    }
    CITYHUB_RETURN_IF_ERROR(Consume(chunk[i++]));
  }
  return Status::Ok();
}

// Inside a field, bytes that the state machine would only append can be copied as a run. A line
// end stops a run even inside quotes, so that Consume counts lines.
size_t CsvReader::OrdinaryRun(std::string_view rest) const {
  if (state_ != State::kUnquoted && state_ != State::kQuoted) return 0;
  std::string_view stops = state_ == State::kQuoted ? std::string_view("\"\n")
                                                    : std::string_view(",\"\r\n");
  size_t end = rest.find_first_of(stops);
  return end == std::string_view::npos ? rest.size() : end;
}

Status CsvReader::Finish() {
  if (!bom_done_) {
    bom_done_ = true;  // the file is shorter than a BOM: replay what was taken for one
    for (size_t k = 0; k < bom_matched_; ++k) CITYHUB_RETURN_IF_ERROR(Consume(kBom[k]));
  }
  if (state_ == State::kQuoted) {
    Fail("unterminated quoted field (the file ends inside quotes)");
    return Status::Ok();
  }
  if (state_ == State::kSkipLine) return Status::Ok();
  return EndRecord();
}

Status CsvReader::AppendRun(std::string_view bytes) {
  if (buffer_.size() + bytes.size() > limits_.max_record_bytes) {
    return Status(Status::Code::kPayloadTooLarge,
                  fmt::format("{} line {}: record longer than {} bytes", file_name_,
                              record_line_, limits_.max_record_bytes));
  }
  buffer_.append(bytes);
  return Status::Ok();
}

Status CsvReader::Append(char c) { return AppendRun(std::string_view(&c, 1)); }

void CsvReader::EndField() { field_ends_.push_back(buffer_.size()); }

void CsvReader::Fail(std::string reason) {
  on_problem_(record_line_, std::move(reason));
  buffer_.clear();
  field_ends_.clear();
  record_has_content_ = false;
  state_ = State::kSkipLine;
}

Status CsvReader::Consume(char c) {
  if (state_ == State::kSkipLine) {
    if (c == '\n') {
      ++line_;
      record_line_ = line_;
      state_ = State::kFieldStart;
    }
    return Status::Ok();
  }
  if (c == '\n') ++line_;
  switch (state_) {
    case State::kQuoted:
      if (c == '"') {
        state_ = State::kQuoteInQuoted;
        return Status::Ok();
      }
      return Append(c);
    case State::kQuoteInQuoted:
      if (c == '"') {
        state_ = State::kQuoted;
        return Append(c);
      }
      if (c != ',' && c != '\n' && c != '\r') {
        Fail(fmt::format("unexpected character after a closing quote in field {}",
                         field_ends_.size() + 1));
        return Status::Ok();
      }
      state_ = State::kUnquoted;  // the field ends at this separator, handled below
      break;
    default:
      break;
  }
  // kFieldStart or kUnquoted.
  if (c == '\r') return Status::Ok();
  if (c == ',') {
    record_has_content_ = true;
    EndField();
    if (field_ends_.size() >= kMaxCsvFields) {
      Fail(fmt::format("more than {} fields", kMaxCsvFields));
      return Status::Ok();
    }
    state_ = State::kFieldStart;
    return Status::Ok();
  }
  if (c == '\n') {
    Status status = EndRecord();
    record_line_ = line_;
    return status;
  }
  record_has_content_ = true;
  if (c == '"') {
    if (state_ == State::kFieldStart) {
      state_ = State::kQuoted;
      return Status::Ok();
    }
    Fail(fmt::format("stray quote inside unquoted field {}", field_ends_.size() + 1));
    return Status::Ok();
  }
  state_ = State::kUnquoted;
  return Append(c);
}

Status CsvReader::EndRecord() {
  state_ = State::kFieldStart;
  if (!record_has_content_ && buffer_.empty()) {  // an empty line
    field_ends_.clear();
    return Status::Ok();
  }
  EndField();
  record_.line = record_line_;
  record_.fields.clear();
  size_t begin = 0;
  for (size_t end : field_ends_) {
    record_.fields.emplace_back(buffer_.data() + begin, end - begin);
    begin = end;
  }
  Status status = Status::Ok();
  if (header_.empty()) {
    for (std::string_view name : record_.fields) header_.push_back(Trim(name));
    status = on_header_(header_);
  } else if (record_.fields.size() < header_.size() && limits_.pad_short_records) {
    record_.fields.resize(header_.size());
    status = on_record_(record_);
  } else if (record_.fields.size() != header_.size()) {
    on_problem_(record_.line, fmt::format("expected {} fields as in the header, found {}",
                                          header_.size(), record_.fields.size()));
  } else {
    status = on_record_(record_);
  }
  buffer_.clear();
  field_ends_.clear();
  record_has_content_ = false;
  return status;
}

}  // namespace cityhub::mobility::gtfs
