// NHSACK (NHS001): the acknowledgement an NHS EDIFACT receiver returns when
// an interchange asks for one (UNB-9 = 1).
//
// Layout written (one message per acknowledgement interchange), aligned with
// NHS England's lab results adaptor (integration-adaptor-lab-results:
// NhsAckProducerService, templates/nhsAck.mustache and its nhsAck_example_*
// test files; the NHS001 specification itself is not public):
//   UNA:+.? '                     always (the acknowledged interchange's
//                                 service characters)
//   UNB+UNOC:3+<their recipient>+<their sender>+YYMMDD:HHMM+<ref>++<workflow>'
//                                 addressed back; identities with their
//                                 qualifiers (000000004400001:80);
//                                 workflow PATH_MEDRPT_V3_ACK (NHS003) or
//                                 SCRN_BCS_MEDRPT_V4_ACK (NHS004)
//   UNH+1+NHSACK:D:1:NH:NHS001'
//   BGM+AKR'
//   DTM+137:CCYYMMDD:102'         date of the acknowledgement (UK time)
//   NIR+SIR:<their ref>+<their sender>+<their recipient>+<status>'
//                                 IAF accepted fully, IAP accepted partially,
//                                 IRA all messages rejected, IRI interchange
//                                 rejected (envelope invalid), IRM messages
//                                 could not be extracted
//   FTX+ERD+++<reason>'           IRI / IRM only
//   NMR+AGO:<UNH-1>+MA|MR'        per message: accepted / rejected
//   FTX+ERD+++<reason>'           after each MR
//   UNT+<n>+1'  UNZ+1+<ref>'
// Reasons are cut into up to 5 components of 70 characters (FTX C108).
// Deviation from the adaptor: the acknowledgement's own control reference is
// the acknowledged interchange's (the adaptor draws it from a per-partner
// sequence), so that a Kafka retry or a resend yields the same reply and
// dxnorm needs no sequence store.
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

// Whether a reply can be addressed at all: a UNB with both a sender and a
// recipient (a UNB without them is rejected, and nobody can be answered).
// (Values are read as the reply writes them: unescaped, control characters
// dropped.)
bool can_acknowledge(const InterchangeHeader& in);

// `workflow` empty: PATH_MEDRPT_V3_ACK. `interchange_error` non-empty: the envelope was rejected (IRI, or IRM when
// `messages_unreadable`); `results` are ignored then. `now` is UTC seconds;
// the date written is UK local time.
NhsAck build_nhsack(const InterchangeHeader& in, const std::vector<AckMessageResult>& results,
                    const std::string& interchange_error, bool messages_unreadable, std::time_t now,
                    std::string_view workflow = {});

}  // namespace dxnorm::edifact
