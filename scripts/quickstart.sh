#!/usr/bin/env bash
# Quick start: installs what is missing, builds, runs the pipeline on the
# embedded broker, publishes the bundled example messages and shows the FHIR
# that arrives on the output topics. The pipeline keeps running (Ctrl-C
# stops it) so that you can look around with kcat from another terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target dxnorm

mkdir -p out
rm -f dxnorm-bootstrap.txt
./build/dxnorm run --http-port 0 > out/run.out 2> out/run.log &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null' INT TERM
for _ in $(seq 1 100); do [ -s dxnorm-bootstrap.txt ] && grep -q "^http:" out/run.out && break; sleep 0.1; done
cat out/run.out
BOOTSTRAP=$(cat dxnorm-bootstrap.txt)
HTTP=$(sed -n 's/^http: \(http:[^ ]*\)\/metrics.*/\1/p' out/run.out)
for _ in $(seq 1 150); do curl -fs "$HTTP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

./build/dxnorm publish --topic hl7v2.in config/examples/*.hl7     # lab results, ADT, a CT order and its report
./build/dxnorm publish --topic edifact.in config/examples/*.edi   # an NHS003 pathology report
./build/dxnorm publish --topic dicom.in config/examples/*.json    # the CT study's DICOMweb metadata
sleep 3
echo
echo "== records per output topic =="
for t in fhir.bundle fhir.Patient fhir.DiagnosticReport fhir.Observation fhir.Specimen fhir.ServiceRequest \
         fhir.ImagingStudy fhir.Endpoint edifact.ack dxnorm.dead-letter; do
  n=$(kcat -b "$BOOTSTRAP" -t "$t" -C -e -o beginning -q -f '%o\n' 2>/dev/null | wc -l)
  printf '  %-24s %s\n' "$t" "$n"
done
echo
echo "== fhir.DiagnosticReport (key, then resource) =="
kcat -b "$BOOTSTRAP" -t fhir.DiagnosticReport -C -e -o beginning -q -f '%k\n%s\n\n' 2>/dev/null | head -c 3000
echo
echo "== metrics =="
curl -fs "$HTTP/metrics" | grep -E '^dxnorm_messages_' || true
echo
echo "The pipeline is still running (pid $PID), on the embedded broker at $BOOTSTRAP."
echo "  kcat -b \$(cat dxnorm-bootstrap.txt) -t fhir.DiagnosticReport -C -e"
echo "  ./build/dxnorm publish --topic hl7v2.in <files>"
echo "Ctrl-C stops it."
wait $PID
