// HTTP endpoints of `dxnorm run` (Poco): /metrics (Prometheus text),
// /healthz (the process serves), /readyz (partitions assigned and mappings
// loaded). Owns its server thread; stop() or the destructor ends it.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace Poco::Net {
class HTTPServer;
}

namespace dxnorm::runtime {

class Metrics;

class HttpEndpoints {
 public:
  // Throws at start-up (port in use...). port 0 picks a free port.
  HttpEndpoints(const std::string& address, int port, Metrics& metrics, std::function<bool()> ready);
  ~HttpEndpoints();
  int port() const noexcept { return port_; }
  void stop();

 private:
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  int port_ = 0;
};

}  // namespace dxnorm::runtime
