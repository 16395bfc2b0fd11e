#pragma once

// The complaint service's gRPC adapter: validates each request (bad input is
// INVALID_ARGUMENT naming the fields), looks up the member's tier for intake,
// and hands plain values to ComplaintService.

#include "care/complaint/v1/complaint.grpc.pb.h"
#include "clients/loyalty/tier_cache.h"
#include "common/privacy.h"
#include "common/rpc.h"
#include "services/complaint/complaint_service.h"

namespace care::complaint {

class ComplaintGrpc final : public v1::ComplaintService::CallbackService {
 public:
  // `tiers` may be null (no loyalty configured: tickets are filed untiered).
  // `digests` name the subject of an export in its audit entry.
  ComplaintGrpc(RpcRuntime& rpc, ComplaintService& service, TierLookup* tiers, const SubjectDigests& digests)
      : rpc_(rpc), service_(service), tiers_(tiers), digests_(digests) {}

  using ServerContext = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;

  Reactor* CreateComplaint(ServerContext* ctx, const v1::CreateComplaintRequest* req,
                           v1::CreateComplaintResponse* resp) override;
  Reactor* GetComplaint(ServerContext* ctx, const v1::GetComplaintRequest* req, v1::Complaint* resp) override;
  Reactor* ListComplaintEvents(ServerContext* ctx, const v1::ListComplaintEventsRequest* req,
                               v1::ListComplaintEventsResponse* resp) override;
  Reactor* TransitionComplaint(ServerContext* ctx, const v1::TransitionComplaintRequest* req,
                               v1::Complaint* resp) override;
  Reactor* ReplyToComplaint(ServerContext* ctx, const v1::ReplyToComplaintRequest* req,
                            v1::ReplyToComplaintResponse* resp) override;
  Reactor* ResolveComplaint(ServerContext* ctx, const v1::ResolveComplaintRequest* req,
                            v1::ResolveComplaintResponse* resp) override;
  Reactor* ApproveCompensation(ServerContext* ctx, const v1::ApproveCompensationRequest* req,
                               v1::Complaint* resp) override;
  Reactor* SubmitSurveyResponse(ServerContext* ctx, const v1::SubmitSurveyResponseRequest* req,
                                v1::SurveyResponse* resp) override;
  Reactor* PutForbiddenPhrases(ServerContext* ctx, const v1::PutForbiddenPhrasesRequest* req,
                               v1::ForbiddenPhraseList* resp) override;
  Reactor* GetForbiddenPhrases(ServerContext* ctx, const v1::GetForbiddenPhrasesRequest* req,
                               v1::ForbiddenPhraseList* resp) override;
  Reactor* CreateBusinessCalendar(ServerContext* ctx, const v1::CreateBusinessCalendarRequest* req,
                                  v1::BusinessCalendar* resp) override;
  Reactor* GetBusinessCalendar(ServerContext* ctx, const v1::GetBusinessCalendarRequest* req,
                               v1::BusinessCalendar* resp) override;
  Reactor* CreateSlaPolicy(ServerContext* ctx, const v1::CreateSlaPolicyRequest* req, v1::SlaPolicy* resp) override;
  Reactor* GetSlaPolicy(ServerContext* ctx, const v1::GetSlaPolicyRequest* req, v1::SlaPolicy* resp) override;
  Reactor* GetComplaintSettings(ServerContext* ctx, const v1::GetComplaintSettingsRequest* req,
                                v1::ComplaintSettings* resp) override;
  Reactor* UpdateComplaintSettings(ServerContext* ctx, const v1::UpdateComplaintSettingsRequest* req,
                                   v1::ComplaintSettings* resp) override;
  Reactor* ListComplaints(ServerContext* ctx, const v1::ListComplaintsRequest* req,
                          v1::ListComplaintsResponse* resp) override;
  Reactor* UpdateComplaint(ServerContext* ctx, const v1::UpdateComplaintRequest* req, v1::Complaint* resp) override;
  Reactor* ReopenComplaint(ServerContext* ctx, const v1::ReopenComplaintRequest* req, v1::Complaint* resp) override;
  Reactor* AssignComplaint(ServerContext* ctx, const v1::AssignComplaintRequest* req, v1::Complaint* resp) override;
  Reactor* TransferComplaint(ServerContext* ctx, const v1::TransferComplaintRequest* req, v1::Complaint* resp) override;
  Reactor* RecordCustomerMessage(ServerContext* ctx, const v1::RecordCustomerMessageRequest* req,
                                 v1::RecordCustomerMessageResponse* resp) override;
  Reactor* AddNote(ServerContext* ctx, const v1::AddNoteRequest* req, v1::AddNoteResponse* resp) override;
  Reactor* RejectCompensation(ServerContext* ctx, const v1::RejectCompensationRequest* req,
                              v1::Complaint* resp) override;
  Reactor* PutScript(ServerContext* ctx, const v1::PutScriptRequest* req, v1::Script* resp) override;
  Reactor* GetScript(ServerContext* ctx, const v1::GetScriptRequest* req, v1::Script* resp) override;
  Reactor* GetScriptForComplaint(ServerContext* ctx, const v1::GetScriptForComplaintRequest* req,
                                 v1::Script* resp) override;
  Reactor* ListScripts(ServerContext* ctx, const v1::ListScriptsRequest* req, v1::ListScriptsResponse* resp) override;
  Reactor* ListForbiddenPhrases(ServerContext* ctx, const v1::ListForbiddenPhrasesRequest* req,
                                v1::ListForbiddenPhrasesResponse* resp) override;
  Reactor* ListBusinessCalendars(ServerContext* ctx, const v1::ListBusinessCalendarsRequest* req,
                                 v1::ListBusinessCalendarsResponse* resp) override;
  Reactor* UpdateBusinessCalendar(ServerContext* ctx, const v1::UpdateBusinessCalendarRequest* req,
                                  v1::BusinessCalendar* resp) override;
  Reactor* DeleteBusinessCalendar(ServerContext* ctx, const v1::DeleteBusinessCalendarRequest* req,
                                  v1::DeleteBusinessCalendarResponse* resp) override;
  Reactor* ListSlaPolicies(ServerContext* ctx, const v1::ListSlaPoliciesRequest* req,
                           v1::ListSlaPoliciesResponse* resp) override;
  Reactor* UpdateSlaPolicy(ServerContext* ctx, const v1::UpdateSlaPolicyRequest* req, v1::SlaPolicy* resp) override;
  Reactor* DeleteSlaPolicy(ServerContext* ctx, const v1::DeleteSlaPolicyRequest* req,
                           v1::DeleteSlaPolicyResponse* resp) override;
  Reactor* GetComplaintMetrics(ServerContext* ctx, const v1::GetComplaintMetricsRequest* req,
                               v1::ComplaintMetrics* resp) override;
  grpc::ServerWriteReactor<v1::ComplaintPersonalData>* ExportPersonalData(
      ServerContext* ctx, const care::common::v1::ExportPersonalDataRequest* req) override;
  Reactor* ErasePersonalData(ServerContext* ctx, const care::common::v1::ErasePersonalDataRequest* req,
                             care::common::v1::ErasureReceipt* resp) override;
  Reactor* CreateContact(ServerContext* ctx, const v1::CreateContactRequest* req, v1::Contact* resp) override;
  Reactor* GetContact(ServerContext* ctx, const v1::GetContactRequest* req, v1::Contact* resp) override;
  Reactor* ListContacts(ServerContext* ctx, const v1::ListContactsRequest* req,
                        v1::ListContactsResponse* resp) override;
  Reactor* LinkContacts(ServerContext* ctx, const v1::LinkContactsRequest* req,
                        v1::LinkContactsResponse* resp) override;
  Reactor* UpdateContact(ServerContext* ctx, const v1::UpdateContactRequest* req, v1::Contact* resp) override;

 private:
  // The member's tier at intake through the tier cache (UNAVAILABLE without
  // it); NOT_FOUND / MEMBER_NOT_FOUND when loyalty has no such member.
  absl::StatusOr<TierAtIntake> TierOf(const std::string& member_id);
  // Runs `fn()` (returning StatusOr<Response>) and copies its value to `resp`.
  template <typename Request, typename Response, typename Fn>
  Reactor* Answer(ServerContext* ctx, const Request& req, Response* resp, Fn fn);
  template <typename Request, typename Response, typename Fetch, typename Add>
  Reactor* AnswerList(ServerContext* ctx, const Request* req, Response* resp, Fetch fetch, Add add);

  RpcRuntime& rpc_;
  ComplaintService& service_;
  TierLookup* tiers_;
  const SubjectDigests& digests_;
};

}  // namespace care::complaint
