#pragma once

#include "auth/access_policy.hpp"
#include "domain/validator.hpp"
#include "http/router.hpp"
#include "reports/report_service.hpp"
#include "sse/stream_opener.hpp"

#include <optional>
#include <string>
#include <variant>

namespace ssehub::reports {

// HTTP handlers of v4: create, list and move reports, and the user's report stream.
class ReportApi {
 public:
  ReportApi(ReportService& service, const sse::StreamOpener& streams,
            const auth::AccessPolicy& access)
      : service_(service), streams_(streams), access_(access) {}
  void register_routes(http::Router& router);

 private:
  enum class Access { User, UserOrPublisher };
  // The request's user_id, once it is valid and the caller may act for that user; otherwise
  // the answer that refuses the request. Pure: also the guard of routes with a body.
  std::variant<std::string, http::Response> authorize(const http::RequestHead& head,
                                                      Access access) const;
  // The request's user_id, once it is valid and the caller may act for that user; otherwise
  // answers the request and returns nullopt.
  std::optional<std::string> authorized_user(const http::ExchangePtr& exchange, Access access) const;

  void create_report(const http::ExchangePtr& exchange);
  void list_reports(const http::ExchangePtr& exchange);
  void change_status(const http::ExchangePtr& exchange);
  void open_stream(const http::ExchangePtr& exchange);

  ReportService& service_;
  const sse::StreamOpener& streams_;
  const auth::AccessPolicy& access_;
};

// The `user_id` query parameter as a canonical UUID, or the response that refuses it.
std::variant<std::string, http::Response> user_id_of(const http::Target& target);

// Parses a PUT /v4/report body (application/json); on success, the report id and requested
// status.
std::variant<domain::StatusChange, http::Response> parse_status_change(
    std::string_view content_type, std::string_view body);

// The 400 that refuses a change the domain refuses: invalid_json, missing_report_id,
// invalid_report_id, missing_status or invalid_status.
http::Response refusal_for(const domain::StatusChangeError& error);

}  // namespace ssehub::reports
