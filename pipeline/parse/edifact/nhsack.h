// NHSACK (NHS001): the acknowledgement an NHS EDIFACT receiver returns when
// an interchange asks for one (UNB-9 = 1).
//
// Layout written (one message per acknowledgement interchange):
//   UNA (when the input had one)
//   UNB+<syntax>+<their recipient>+<their sender>+YYMMDD:HHMM+<ref>++NHSACK'
//   UNH+1+NHSACK:0:1:FH:NHS001'
//   BGM+<status>'                 IAF accepted fully, IAP accepted partially,
//                                 IRA all messages rejected, IRI interchange
//                                 rejected (envelope invalid), IRM messages
//                                 could not be extracted
//   DTM+815:CCYYMMDD:102'         date of the acknowledgement
//   RFF+ISR:<interchange reference>'
//   FTX+RPD+++<reason>'           IRI / IRM only
//   RFF+MIS:<message reference> MA|MR'   per message: accepted / rejected
//   FTX+RPD+++<reason>'           after each MR
//   UNT+<n>+1'  UNZ+1+<ref>'
// The status codes and per-message codes are those of the NHS England lab
// results adaptor (NhsAckStatus); the acknowledgement's reference is the
// acknowledged interchange's, so that a resend yields the same reply.
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "pipeline/parse/edifact/edifact_message.h"

namespace dxnorm::edifact {

enum class AckStatus { kAcceptedFully, kAcceptedPartially, kAllRejected, kInterchangeRejected, kMessagesRejected };
std::string_view to_code(AckStatus s) noexcept;  // "IAF", ...

struct AckMessageResult {
  std::string reference;   // UNH-1
  bool accepted = true;
  std::string reason;      // for rejected: "<stage> <CODE>: <message>" (no patient data)
};

struct NhsAck {
  AckStatus status = AckStatus::kAcceptedFully;
  std::string text;        // the NHSACK interchange
};

// `interchange_error` non-empty: the envelope was rejected (IRI, or IRM when
// `messages_unreadable`); `results` are ignored then. `now` is UTC seconds;
// the date written is UK local time.
NhsAck build_nhsack(const InterchangeHeader& in, const std::vector<AckMessageResult>& results,
                    const std::string& interchange_error, bool messages_unreadable, std::time_t now);

}  // namespace dxnorm::edifact
