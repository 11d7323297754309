#include "pipeline/parse/edifact/nhsack.h"

#include <date/tz.h>

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
void uk_time(std::time_t now, char (&ymd8)[9], char (&yymmdd)[7], char (&hhmm)[5]) {
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

}  // namespace

NhsAck build_nhsack(const InterchangeHeader& in, const std::vector<AckMessageResult>& results,
                    const std::string& interchange_error, bool messages_unreadable, std::time_t now) {
  NhsAck ack;
  const Delimiters& d = in.delims;
  auto esc = [&](std::string_view s) { return escape(s, d); };
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
  char ymd8[9], yymmdd[7], hhmm[5];
  uk_time(now, ymd8, yymmdd, hhmm);
  std::string ref = in.reference.empty() ? std::string("1") : std::string(in.reference);
  std::string& o = ack.text;
  if (in.has_una) o.append(in.una);
  o += "UNB" + el + (in.syntax.empty() ? std::string("UNOC") + co + "3" : std::string(in.syntax));
  // Addressed back: their recipient sends, their sender receives.
  o += el + esc(in.recipient) + (in.recipient_qualifier.empty() ? "" : co + esc(in.recipient_qualifier));
  o += el + esc(in.sender) + (in.sender_qualifier.empty() ? "" : co + esc(in.sender_qualifier));
  o += el + yymmdd + co + hhmm + el + esc(ref) + el + el + "NHSACK" + seg;
  std::size_t body = 0;
  auto add = [&](const std::string& s) {
    o += s + seg;
    ++body;
  };
  add("UNH" + el + "1" + el + "NHSACK" + co + "0" + co + "1" + co + "FH" + co + "NHS001");
  add("BGM" + el + std::string(to_code(ack.status)));
  add("DTM" + el + "815" + co + ymd8 + co + "102");
  add("RFF" + el + "ISR" + co + esc(ref));
  if (!interchange_error.empty()) {
    add("FTX" + el + "RPD" + el + el + el + esc(interchange_error.substr(0, 350)));
  } else {
    for (const auto& r : results) {
      add("RFF" + el + "MIS" + co + esc(r.reference) + " " + (r.accepted ? "MA" : "MR"));
      if (!r.accepted) add("FTX" + el + "RPD" + el + el + el + esc(r.reason.substr(0, 350)));
    }
  }
  add("UNT" + el + std::to_string(body + 1) + el + "1");
  o += "UNZ" + el + "1" + el + esc(ref) + seg;
  return ack;
}

}  // namespace dxnorm::edifact
