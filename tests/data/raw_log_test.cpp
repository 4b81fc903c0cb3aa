#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "dare/data/raw_log.hpp"
#include "data/data_test_util.hpp"

using dare::FormatError;
using dare::RawClick;
using dare::RawFormat;
using dare::RawLogOptions;
using dare::RawLogReader;
using dare::RawLogStats;

namespace {

struct ReadResult {
  std::vector<RawClick> clicks;
  RawLogStats stats;
};

ReadResult read_all(const std::string& path, RawFormat format, RawLogOptions options = {}) {
  ReadResult r;
  r.stats = RawLogReader(path, format, options).for_each_click([&](const RawClick& c) {
    r.clicks.push_back(c);
  });
  return r;
}

bool same_clicks(const std::vector<RawClick>& a, const std::vector<RawClick>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].user != b[i].user || a[i].item != b[i].item || a[i].cat != b[i].cat ||
        a[i].time != b[i].time) {
      return false;
    }
  }
  return true;
}

const char* const kTmallHeader = "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n";

}  // namespace

TEST_CASE("the Taobao reader keeps pv rows only, in file order, with their raw fields", "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("UserBehavior.csv");
  dare_test::write_text(path,
                        "1,2268318,2520377,pv,1511544070\n"
                        "1,2333346,2520771,buy,1511561733\n"
                        "1,2576651,149192,pv,1511572885\n"
                        "7,4365585,2520377,cart,1511596146\n"
                        "7,4365585,2520377,fav,1511596147\n"
                        "9223372036854775807,5,6,pv,-17\n");
  const ReadResult r = read_all(path, RawFormat::taobao);
  REQUIRE(r.clicks.size() == 3);
  CHECK(r.clicks[0].user == 1);
  CHECK(r.clicks[0].item == 2268318);
  CHECK(r.clicks[0].cat == 2520377);
  CHECK(r.clicks[0].time == 1511544070);
  CHECK(r.clicks[1].item == 2576651);
  CHECK(r.clicks[2].user == 9223372036854775807ULL);
  CHECK(r.clicks[2].time == -17);
  CHECK(r.stats.rows_read == 6);
  CHECK(r.stats.rows_kept == 3);
  CHECK(r.stats.rows_other_behavior == 3);
  CHECK(r.stats.rows_malformed == 0);
}

TEST_CASE("CRLF line ends and a missing final newline read like plain lines", "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string plain = dir.file("plain.csv");
  const std::string crlf = dir.file("crlf.csv");
  const std::string open_end = dir.file("open_end.csv");
  dare_test::write_text(plain, "1,10,100,pv,5\n2,20,200,pv,6\n");
  dare_test::write_text(crlf, "1,10,100,pv,5\r\n2,20,200,pv,6\r\n");
  dare_test::write_text(open_end, "1,10,100,pv,5\r\n2,20,200,pv,6");
  const ReadResult a = read_all(plain, RawFormat::taobao);
  REQUIRE(a.clicks.size() == 2);
  CHECK(same_clicks(a.clicks, read_all(crlf, RawFormat::taobao).clicks));
  CHECK(same_clicks(a.clicks, read_all(open_end, RawFormat::taobao).clicks));
  CHECK(a.clicks[1].time == 6);
}

TEST_CASE("lines split across read buffers parse the same for every buffer size", "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("log.csv");
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text += std::to_string(i % 13) + "," + std::to_string(1000 + i * 7) + "," + std::to_string(i % 5) +
            (i % 4 == 0 ? ",buy," : ",pv,") + std::to_string(1511500000 + i) + (i % 3 ? "\n" : "\r\n");
  }
  text.pop_back();  // no final newline
  dare_test::write_text(path, text);
  const ReadResult reference = read_all(path, RawFormat::taobao);
  REQUIRE(reference.clicks.size() == 150);
  for (std::size_t buffer = 36; buffer <= 80; ++buffer) {
    RawLogOptions options;
    options.buffer_bytes = buffer;
    const ReadResult r = read_all(path, RawFormat::taobao, options);
    INFO("buffer_bytes = " << buffer);
    CHECK(same_clicks(r.clicks, reference.clicks));
    CHECK(r.stats.rows_read == 200);
  }
}

TEST_CASE("a malformed Taobao row is a FormatError naming file, line and field", "[data][raw_log]") {
  struct Case {
    const char* row;
    const char* field;
    const char* message;
  };
  const Case cases[] = {
      {"1,2,3,pv", "timestamp", "missing field"},
      {"1,2,3", "behavior_type", "missing field"},
      {"1,2", "category_id", "missing field"},
      {"1,2,3,pv,5,6", "row", "extra field"},
      {"x,2,3,pv,5", "user_id", "not a non-negative integer"},
      {"1,2b,3,pv,5", "item_id", "not a non-negative integer"},
      {"-1,2,3,pv,5", "user_id", "not a non-negative integer"},
      {"1,2,99999999999999999999,pv,5", "category_id", "not a non-negative integer"},
      {"1,,3,pv,5", "item_id", "empty field"},
      {"1,2,3,,5", "behavior_type", "empty field"},
      {"1,2,3,pv,", "timestamp", "empty field"},
      {"1,2,3,click,5", "behavior_type", "unknown behaviour type"},
      {"1,2,3,PV,5", "behavior_type", "unknown behaviour type"},
      {"1,2,3,pv,12a", "timestamp", "not an integer"},
      {"1, 2,3,pv,5", "item_id", "not a non-negative integer"},
      {"", "row", "blank line"},
  };
  dare_test::TempDir dir;
  const std::string path = dir.file("bad.csv");
  for (const Case& c : cases) {
    dare_test::write_text(path, std::string("1,2,3,pv,4\n5,6,7,buy,8\n") + c.row + "\n9,9,9,pv,9\n");
    INFO("row '" << c.row << "'");
    try {
      read_all(path, RawFormat::taobao);
      FAIL("no FormatError");
    } catch (const FormatError& e) {
      CHECK(e.path() == path);
      CHECK(e.line() == 3);
      CHECK(e.field() == c.field);
      CHECK_THAT(e.what(), Catch::Contains(path + ":3") && Catch::Contains(c.field) &&
                               Catch::Contains(c.message));
    }
  }
}

TEST_CASE("skip_malformed skips bad rows, counts them and keeps the first message", "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("bad.csv");
  dare_test::write_text(path,
                        "1,2,3,pv,4\n"
                        "1,2,3,pv\n"        // line 2: missing timestamp
                        "1,2,3,pv,4,5\n"    // line 3: extra field
                        "\n"                // line 4: blank
                        "2,5,6,pv,7\n"
                        "2,5,6,see,7\n");   // line 6: unknown behaviour
  RawLogOptions options;
  options.skip_malformed = true;
  const ReadResult r = read_all(path, RawFormat::taobao, options);
  REQUIRE(r.clicks.size() == 2);
  CHECK(r.clicks[1].item == 5);
  CHECK(r.stats.rows_malformed == 4);
  CHECK(r.stats.rows_read == 6);
  CHECK(r.stats.rows_kept == 2);
  CHECK_THAT(r.stats.first_malformed, Catch::Contains(path + ":2") && Catch::Contains("timestamp"));
}

TEST_CASE("a line longer than the read buffer is malformed, and skippable", "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("long.csv");
  dare_test::write_text(path, "1,2,3,pv,4\n" + std::string(100, '7') + ",2,3,pv,4\n3,4,5,pv,6\n");
  RawLogOptions options;
  options.buffer_bytes = 32;
  try {
    read_all(path, RawFormat::taobao, options);
    FAIL("no FormatError");
  } catch (const FormatError& e) {
    CHECK(e.line() == 2);
    CHECK_THAT(e.what(), Catch::Contains("longer than 32 bytes"));
  }
  options.skip_malformed = true;
  const ReadResult r = read_all(path, RawFormat::taobao, options);
  REQUIRE(r.clicks.size() == 2);
  CHECK(r.clicks[1].user == 3);
  CHECK(r.stats.rows_malformed == 1);
}

TEST_CASE("the Tmall reader needs the header and keeps action_type 0 only", "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("user_log_format1.csv");
  dare_test::write_text(path, std::string(kTmallHeader) +
                                  "328862,323294,833,2882,2661,0829,0\n"
                                  "328862,844400,1271,2882,,0829,0\n"    // empty brand_id
                                  "328862,575153,1271,,,0830,1\n"        // empty seller and brand, cart
                                  "328862,996875,1271,2882,2661,1111,2\n"
                                  "234512,996875,1271,2882,2661,1111,3\n"
                                  "234512,1,2,3,4,0511,0\r\n");
  const ReadResult r = read_all(path, RawFormat::tmall);
  REQUIRE(r.clicks.size() == 3);
  CHECK(r.clicks[0].user == 328862);
  CHECK(r.clicks[0].item == 323294);
  CHECK(r.clicks[0].cat == 833);
  CHECK(r.clicks[0].time == 829);
  CHECK(r.clicks[1].item == 844400);
  CHECK(r.clicks[2].time == 511);
  CHECK(r.stats.rows_read == 6);
  CHECK(r.stats.rows_other_behavior == 3);
}

TEST_CASE("a UTF-8 byte-order mark before the first line is skipped", "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string tmall = dir.file("tmall.csv");
  dare_test::write_text(tmall, "\xEF\xBB\xBFuser_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n"
                               "1,2,3,4,5,0829,0\n");
  CHECK(read_all(tmall, RawFormat::tmall).clicks.size() == 1);
  const std::string taobao = dir.file("taobao.csv");
  dare_test::write_text(taobao, "\xEF\xBB\xBF" "1,2,3,pv,5\n");
  CHECK(read_all(taobao, RawFormat::taobao).clicks.size() == 1);
}

TEST_CASE("a missing or wrong Tmall header is a FormatError on line 1", "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("log.csv");
  dare_test::write_text(path, "328862,323294,833,2882,2661,0829,0\n");
  CHECK_THROWS_MATCHES(read_all(path, RawFormat::tmall), FormatError,
                       Catch::Predicate<FormatError>(
                           [](const FormatError& e) { return e.line() == 1 && e.field() == "header"; },
                           "line 1, field header"));
  dare_test::write_text(path, "user_id,item_id,cat_id,merchant_id,brand_id,time_stamp,action_type\n");
  CHECK_THROWS_WITH(read_all(path, RawFormat::tmall), Catch::Contains(":1: field 'header'"));
  dare_test::write_text(path, "");
  CHECK_THROWS_WITH(read_all(path, RawFormat::tmall), Catch::Contains("empty file"));
  // The header alone is a valid, empty log; a CRLF header is the same header.
  dare_test::write_text(path, kTmallHeader);
  CHECK(read_all(path, RawFormat::tmall).stats.rows_read == 0);
  dare_test::write_text(path, "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\r\n1,2,3,4,5,0601,0\r\n");
  CHECK(read_all(path, RawFormat::tmall).clicks.size() == 1);
}

TEST_CASE("malformed Tmall rows name their field; unused fields may be empty", "[data][raw_log]") {
  struct Case {
    const char* row;
    const char* field;
  };
  const Case cases[] = {
      {"1,2,3,4,5,0601", "action_type"},
      {"1,2,3,4,5,0601,", "action_type"},
      {"1,2,3,4,5,0601,4", "action_type"},
      {"1,2,3,4,5,0601,00", "action_type"},
      {"1,2,3,4,5,,0", "time_stamp"},
      {"1,2,3,4,5,1301,0", "time_stamp"},
      {"1,2,3,4,5,0600,0", "time_stamp"},
      {"1,2,3,4,5,20150601,0", "time_stamp"},
      {"1,2,,4,5,0601,0", "cat_id"},
      {"1,2,3,4,5,0601,0,9", "row"},
      {"1,2,3", "seller_id"},
      {"1,2,3,4", "brand_id"},
  };
  dare_test::TempDir dir;
  const std::string path = dir.file("log.csv");
  for (const Case& c : cases) {
    dare_test::write_text(path, std::string(kTmallHeader) + "1,2,3,,,0601,0\n" + c.row + "\n");
    INFO("row '" << c.row << "'");
    try {
      read_all(path, RawFormat::tmall);
      FAIL("no FormatError");
    } catch (const FormatError& e) {
      CHECK(e.line() == 3);
      CHECK(e.field() == c.field);
    }
  }
}

TEST_CASE("Tmall clicks whose date is not 4 characters are dropped and counted, as the reference does",
          "[data][raw_log]") {
  dare_test::TempDir dir;
  const std::string path = dir.file("log.csv");
  dare_test::write_text(path, std::string(kTmallHeader) +
                                  "1,2,3,4,5,829,0\n"
                                  "1,2,3,4,5,0829,0\n"
                                  "1,2,3,4,5,511,1\n"
                                  "1,2,3,4,5,1111,0\n");
  const ReadResult strict = read_all(path, RawFormat::tmall);
  CHECK(strict.clicks.size() == 2);
  CHECK(strict.stats.rows_short_date == 1);
  CHECK(strict.stats.rows_other_behavior == 1);
  RawLogOptions keep;
  keep.tmall_four_digit_dates_only = false;
  const ReadResult all = read_all(path, RawFormat::tmall, keep);
  REQUIRE(all.clicks.size() == 3);
  CHECK(all.clicks[0].time == 829);
  CHECK(all.stats.rows_short_date == 0);
}

TEST_CASE("unreadable files and unknown format names are reported", "[data][raw_log]") {
  CHECK_THROWS_WITH(read_all("/nonexistent/dir/log.csv", RawFormat::taobao),
                    Catch::Contains("cannot open '/nonexistent/dir/log.csv'"));
  CHECK(dare::parse_raw_format("tmall") == RawFormat::tmall);
  CHECK(dare::parse_raw_format("taobao") == RawFormat::taobao);
  CHECK_THROWS_WITH(dare::parse_raw_format("csv", "--format"), Catch::Contains("--format must be"));
}
