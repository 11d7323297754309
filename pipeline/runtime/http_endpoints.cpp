#include "pipeline/runtime/http_endpoints.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include "pipeline/runtime/metrics.h"

namespace dxnorm::runtime {

namespace {

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  Handler(Metrics& m, std::function<bool()>& ready) : m_(m), ready_(ready) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& res) override {
    std::string path = req.getURI();
    auto q = path.find('?');
    if (q != std::string::npos) path.resize(q);
    std::string body;
    if (path == "/metrics") {
      body = m_.render();
      res.setContentType("text/plain; version=0.0.4");
    } else if (path == "/healthz") {
      body = "ok\n";
      res.setContentType("text/plain");
    } else if (path == "/readyz") {
      bool r = ready_ && ready_();
      if (!r) res.setStatus(Poco::Net::HTTPResponse::HTTP_SERVICE_UNAVAILABLE);
      body = r ? "ready\n" : "not ready\n";
      res.setContentType("text/plain");
    } else {
      res.setStatus(Poco::Net::HTTPResponse::HTTP_NOT_FOUND);
      body = "not found (try /metrics, /healthz, /readyz)\n";
      res.setContentType("text/plain");
    }
    res.setContentLength(static_cast<std::streamsize>(body.size()));
    res.send() << body;
  }

 private:
  Metrics& m_;
  std::function<bool()>& ready_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(Metrics& m, std::function<bool()> ready) : m_(m), ready_(std::move(ready)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler(m_, ready_);
  }

 private:
  Metrics& m_;
  std::function<bool()> ready_;
};

}  // namespace

HttpEndpoints::HttpEndpoints(const std::string& address, int port, Metrics& metrics, std::function<bool()> ready) {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress(address, static_cast<Poco::UInt16>(port)));
  port_ = socket.address().port();
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(2);
  params->setMaxQueued(16);
  server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(metrics, std::move(ready)), socket, params);
  server_->start();
}

HttpEndpoints::~HttpEndpoints() { stop(); }

void HttpEndpoints::stop() {
  if (server_) {
    server_->stopAll(true);
    server_.reset();
  }
}

}  // namespace dxnorm::runtime
