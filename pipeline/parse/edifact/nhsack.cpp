#include "pipeline/parse/edifact/nhsack.h"

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace dxnorm::edifact {

std::string_view to_code(AckStatus s) noexcept {
  switch (s) {
    case AckStatus::kAcceptedFully: return "IAF";
    case AckStatus::kAcceptedPartially: return "IAP";
    case AckStatus::kAllRejected: return "IRA";
    case AckStatus::kInterchangeRejected: return "IRI";
    case AckStatus::kMessagesRejected: return "IRM";
  }
  return "IRI";
}

namespace {

// UK local date/time of `now` (Europe/London, with daylight saving).
void uk_time(std::time_t now, char (&ymd8)[16], char (&yymmdd)[16], char (&hhmm)[16]) {
  using namespace std::chrono;
  sys_seconds t{seconds{now}};
  int y = 1970, mo = 1, d = 1, h = 0, mi = 0;
  try {
    auto local = date::make_zoned("Europe/London", t).get_local_time();
    auto dp = date::floor<date::days>(local);
    date::year_month_day ymd{dp};
    date::hh_mm_ss<seconds> tod{local - dp};
    y = static_cast<int>(ymd.year());
    mo = static_cast<int>(static_cast<unsigned>(ymd.month()));
    d = static_cast<int>(static_cast<unsigned>(ymd.day()));
    h = static_cast<int>(tod.hours().count());
    mi = static_cast<int>(tod.minutes().count());
  } catch (...) {
    // No tz database: UTC (never the server's zone).
    std::tm tm{};
    gmtime_r(&now, &tm);
    y = tm.tm_year + 1900, mo = tm.tm_mon + 1, d = tm.tm_mday, h = tm.tm_hour, mi = tm.tm_min;
  }
  std::snprintf(ymd8, sizeof ymd8, "%04d%02d%02d", y % 10000, mo, d);
  std::snprintf(yymmdd, sizeof yymmdd, "%02d%02d%02d", y % 100, mo, d);
  std::snprintf(hhmm, sizeof hhmm, "%02d%02d", h, mi);
}

// Without control characters (line breaks, NUL...).
std::string printable(std::string_view s) {
  std::string r;
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x20 && c != '\x7f') r.push_back(c);
  return r;
}

// Free text as FTX C108: up to 5 components of at most 70 characters.
std::string free_text(std::string_view text, const Delimiters& d) {
  std::string r;
  for (int part = 0; part < 5 && !text.empty(); ++part) {
    if (part) r.push_back(d.component);
    std::size_t n = std::min<std::size_t>(70, text.size());
    if (n < text.size()) {  // break after a space when there is one
      std::size_t sp = text.substr(0, n).rfind(' ');
      if (sp != std::string_view::npos && sp > 20) n = sp + 1;
    }
    r += escape(printable(text.substr(0, n)), d);
    text.remove_prefix(n);
  }
  return r;
}

}  // namespace

bool can_acknowledge(const InterchangeHeader& in) {
  std::string scratch;
  return in.has_unb && !printable(unescape(in.sender, in.delims, scratch)).empty() &&
         !printable(unescape(in.recipient, in.delims, scratch)).empty();
}

NhsAck build_nhsack(const InterchangeHeader& in, const std::vector<AckMessageResult>& results,
                    const std::string& interchange_error, bool messages_unreadable, std::time_t now,
                    std::string_view workflow) {
  NhsAck ack;
  const Delimiters& d = in.delims;
  // Values read from the input are raw (escaped with the same service
  // characters): unescaped and escaped again so that a dangling release
  // character never swallows a separator of the reply.
  std::string scratch;
  // Control characters (line breaks...) are dropped: readers strip them at
  // segment ends, so a reference ending in CR would no longer match itself.
  auto esc = [&](std::string_view s) { return escape(printable(unescape(s, d, scratch)), d); };
  const std::string seg(1, d.segment), el(1, d.element), co(1, d.component);
  std::size_t accepted = 0, rejected = 0;
  for (const auto& r : results) (r.accepted ? accepted : rejected)++;
  if (!interchange_error.empty())
    ack.status = messages_unreadable ? AckStatus::kMessagesRejected : AckStatus::kInterchangeRejected;
  else if (rejected == 0 && accepted > 0)
    ack.status = AckStatus::kAcceptedFully;
  else if (accepted == 0)
    ack.status = AckStatus::kAllRejected;
  else
    ack.status = AckStatus::kAcceptedPartially;
  char ymd8[16], yymmdd[16], hhmm[16];
  uk_time(now, ymd8, yymmdd, hhmm);
  std::string ref = esc(in.reference);
  if (ref.empty()) ref = "1";
  auto party = [&](std::string_view id, std::string_view qualifier) {
    return esc(id) + (qualifier.empty() ? "" : co + esc(qualifier));
  };
  const std::string them = party(in.sender, in.sender_qualifier), us = party(in.recipient, in.recipient_qualifier);
  std::string& o = ack.text;
  o += "UNA";
  o += d.component;
  o += d.element;
  o += d.decimal;
  o += d.release;
  o += d.reserved;
  o += d.segment;
  o += "UNB" + el + "UNOC" + co + "3" + el + us + el + them + el + yymmdd + co + hhmm + el + ref + el + el +
       escape(workflow.empty() ? std::string_view("PATH_MEDRPT_V3_ACK") : workflow, d) + seg;
  std::size_t body = 0;
  auto add = [&](const std::string& s) {
    o += s + seg;
    ++body;
  };
  add("UNH" + el + "1" + el + "NHSACK" + co + "D" + co + "1" + co + "NH" + co + "NHS001");
  add("BGM" + el + "AKR");
  add("DTM" + el + "137" + co + ymd8 + co + "102");
  add("NIR" + el + "SIR" + co + ref + el + them + el + us + el + std::string(to_code(ack.status)));
  if (!interchange_error.empty()) {
    add("FTX" + el + "ERD" + el + el + el + free_text(interchange_error, d));
  } else {
    for (const auto& r : results) {
      add("NMR" + el + "AGO" + co + esc(r.reference) + el + (r.accepted ? "MA" : "MR"));
      if (!r.accepted) add("FTX" + el + "ERD" + el + el + el + free_text(r.reason.empty() ? "rejected" : r.reason, d));
    }
  }
  add("UNT" + el + std::to_string(body + 1) + el + "1");
  o += "UNZ" + el + "1" + el + ref + seg;
  return ack;
}

}  // namespace dxnorm::edifact
