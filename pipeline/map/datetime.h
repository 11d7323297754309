// Source date/time values -> FHIR date, dateTime, instant and time.
//
// Precision is kept: "202403" stays "2024-03". A value with a time of day
// needs a zone in FHIR: the value's own offset wins, else the configured
// source zone (Europe/London by default, daylight saving applied for that
// date), never the server's clock. FHIR requires seconds with a time, so
// HHMM becomes HH:MM:00. Fractions keep their digits (1 to 4 in HL7).
#pragma once

#include <string>
#include <string_view>

namespace date {
class time_zone;
}

namespace dxnorm::map {

enum class DateTarget { kDate, kDateTime, kInstant, kTime };

// HL7 v2 DTM / DT / TM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] (also
// two-digit zones "+05"). Returns false with a reason (no value echoed) on a
// malformed value, or when the target needs more precision (instant).
bool convert_hl7_datetime(std::string_view in, DateTarget target, const date::time_zone* zone,
                          std::string& out, std::string& error);

// EDIFACT / ISO-style helpers for later formats are added beside this one.

// Looks up an IANA zone ("Europe/London") in the system tzdata. Throws at
// start-up when unknown.
const date::time_zone* find_zone(std::string_view name);

}  // namespace dxnorm::map
