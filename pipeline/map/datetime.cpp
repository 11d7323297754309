#include "pipeline/map/datetime.h"

#include <date/tz.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace dxnorm::map {

const date::time_zone* find_zone(std::string_view name) {
  try {
    return date::locate_zone(std::string(name));
  } catch (const std::exception& e) {
    throw std::runtime_error("unknown time zone '" + std::string(name) + "': " + e.what());
  }
}

namespace {

bool digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}
int num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}
// The longest output, "YYYY-MM-DDThh:mm:ss.fffffffff+hh:mm", is 35 bytes:
// written into a fixed buffer and copied to `out` once.
struct Text {
  char b[48];
  std::size_t n = 0;
  void push_back(char c) { b[n++] = c; }
  void append(std::string_view s) {
    for (char c : s) b[n++] = c;
  }
};
void two(Text& out, int v) {
  out.push_back(static_cast<char>('0' + v / 10 % 10));
  out.push_back(static_cast<char>('0' + v % 10));
}
void offset_text(Text& out, int minutes) {
  out.push_back(minutes < 0 ? '-' : '+');
  if (minutes < 0) minutes = -minutes;
  two(out, minutes / 60);
  out.push_back(':');
  two(out, minutes % 60);
}

}  // namespace

namespace {
bool convert(std::string_view in, DateTarget target, const date::time_zone* zone, Text& out, std::string& error) {
  // Split off the zone.
  std::string_view body = in;
  std::string_view tz;
  std::size_t zpos = body.find_first_of("+-");
  if (zpos != std::string_view::npos) {
    tz = body.substr(zpos);
    body = body.substr(0, zpos);
  }
  std::string_view frac;
  std::size_t dot = body.find('.');
  if (dot != std::string_view::npos) {
    frac = body.substr(dot + 1);
    body = body.substr(0, dot);
    if (frac.empty() || frac.size() > 9 || !digits(frac)) {
      error = "malformed fraction of a second";
      return false;
    }
  }
  if (!digits(body)) {
    error = "not a date/time (expected YYYY[MM[DD[HH[MM[SS]]]]])";
    return false;
  }
  if (target == DateTarget::kTime) {
    // TM: HH[MM[SS[.S]]]
    if (body.size() != 2 && body.size() != 4 && body.size() != 6) {
      error = "a time needs HH, HHMM or HHMMSS";
      return false;
    }
    int hh = num(body.substr(0, 2)), mi = body.size() >= 4 ? num(body.substr(2, 2)) : 0,
        ss = body.size() >= 6 ? num(body.substr(4, 2)) : 0;
    if (hh > 23 || mi > 59 || ss > 59) {
      error = "time out of range";
      return false;
    }
    two(out, hh);
    out.push_back(':');
    two(out, mi);
    out.push_back(':');
    two(out, ss);
    if (!frac.empty()) {
      out.push_back('.');
      out.append(frac);
    }
    return true;
  }
  std::size_t n = body.size();
  if (n != 4 && n != 6 && n != 8 && n != 10 && n != 12 && n != 14) {
    error = "a date/time has 4, 6, 8, 10, 12 or 14 digits";
    return false;
  }
  if (!frac.empty() && n != 14) {
    error = "a fraction of a second needs seconds";
    return false;
  }
  int y = num(body.substr(0, 4));
  int mo = n >= 6 ? num(body.substr(4, 2)) : 1;
  int d = n >= 8 ? num(body.substr(6, 2)) : 1;
  int hh = n >= 10 ? num(body.substr(8, 2)) : 0;
  int mi = n >= 12 ? num(body.substr(10, 2)) : 0;
  int ss = n >= 14 ? num(body.substr(12, 2)) : 0;
  if (y < 1 || mo < 1 || mo > 12) {
    error = "month out of range";
    return false;
  }
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)}, date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) {
    error = "day out of range for the month";
    return false;
  }
  if (hh > 23 || mi > 59 || ss > 60) {
    error = "time of day out of range";
    return false;
  }
  // Zone offset in minutes, when given.
  bool has_offset = false;
  int offset_min = 0;
  if (!tz.empty()) {
    std::string_view zd = tz.substr(1);
    if (!digits(zd) || (zd.size() != 4 && zd.size() != 2)) {
      error = "malformed zone offset (expected +HHMM or +HH)";
      return false;
    }
    int zh = num(zd.substr(0, 2)), zm = zd.size() == 4 ? num(zd.substr(2, 2)) : 0;
    if (zh > 14 || zm > 59) {
      error = "zone offset out of range";
      return false;
    }
    offset_min = (zh * 60 + zm) * (tz[0] == '-' ? -1 : 1);
    has_offset = true;
  }
  auto year4 = [&] {
    two(out, y / 100);
    two(out, y % 100);
  };
  year4();
  if (target == DateTarget::kDate || n <= 8) {
    if (target == DateTarget::kInstant) {
      error = "an instant needs a time to the second";
      return false;
    }
    if (n >= 6) {
      out.push_back('-');
      two(out, mo);
    }
    if (n >= 8) {
      out.push_back('-');
      two(out, d);
    }
    return true;
  }
  if (target == DateTarget::kInstant && n < 14) {
    error = "an instant needs a time to the second";
    return false;
  }
  out.push_back('-');
  two(out, mo);
  out.push_back('-');
  two(out, d);
  out.push_back('T');
  two(out, hh);
  out.push_back(':');
  two(out, mi);
  out.push_back(':');
  two(out, ss);
  if (!frac.empty()) {
    out.push_back('.');
    out.append(frac);
  }
  if (!has_offset) {
    if (!zone) {
      error = "no zone in the value and no source zone configured";
      return false;
    }
    using namespace std::chrono;
    date::local_seconds local = date::local_days{ymd} + hours{hh} + minutes{mi} + seconds{ss};
    auto info = zone->get_info(local);
    // Ambiguous (clocks go back): the first (summer-time) reading, as a clerk
    // writing the time would most often have meant; nonexistent (clocks go
    // forward): the offset in force before the gap.
    seconds off = info.first.offset;
    offset_min = static_cast<int>(duration_cast<minutes>(off).count());
  }
  offset_text(out, offset_min);
  return true;
}

}  // namespace

bool convert_hl7_datetime(std::string_view in, DateTarget target, const date::time_zone* zone,
                          std::string& out, std::string& error) {
  Text text;
  const bool ok = convert(in, target, zone, text, error);
  out.assign(ok ? text.b : "", ok ? text.n : 0);
  return ok;
}

}  // namespace dxnorm::map
