// Array literals for statements that write a batch of rows at once (unnest($1::bytea[], …)):
// one parameter per column instead of a round trip per row. Used by the PostgreSQL store only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cityhub::store::pg {

// One column of the rows a write adds or removes, as a PostgreSQL array literal: one statement
// writes a whole batch (unnest), instead of a round trip per row.
class Column {
 public:
  void Bytes(std::string_view v) {
    static constexpr char kHex[] = "0123456789abcdef";
    Next();
    body_.append("\"\\\\x");  // "\\x…": the array literal unescapes one of the backslashes
    for (char c : v) {
      body_.push_back(kHex[static_cast<uint8_t>(c) >> 4]);
      body_.push_back(kHex[static_cast<uint8_t>(c) & 15]);
    }
    body_.push_back('"');
  }
  void Int(int64_t v) {
    Next();
    body_.append(std::to_string(v));
  }
  void Char(char c) {  // a "char" kind: a letter
    Next();
    body_.push_back(c);
  }
  std::string Literal() const { return "{" + body_ + "}"; }

 private:
  void Next() {
    if (!body_.empty()) body_.push_back(',');
  }
  std::string body_;
};

// A bytea[] parameter's literal.
inline std::string ByteaArray(const std::vector<std::string_view>& items) {
  Column c;
  for (std::string_view item : items) c.Bytes(item);
  return c.Literal();
}

}  // namespace cityhub::store::pg
