#pragma once

// Template text: `{{variable}}` placeholders, `{{{{` for a literal `{{`;
// built-in texts (en, vi, ja) used when an admin has stored none for a kind,
// channel and locale. The locale chain is common/localized.h's.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "care/notification/v1/notification.pb.h"

namespace care::notification {

// Renders `text` with `vars`; a placeholder without a value renders empty.
// INVALID_ARGUMENT / TEMPLATE_SYNTAX_ERROR (metadata field, position) on
// unbalanced or malformed placeholders; `field` names the text.
absl::StatusOr<std::string> RenderText(const std::string& text, const std::map<std::string, std::string>& vars,
                                       const std::string& field = "text");

// The placeholders `text` uses (already syntax-checked).
std::vector<std::string> Placeholders(const std::string& text);

// The variables a kind supplies to its templates (the MessageKind table);
// every kind also supplies member_id and member_name.
std::map<std::string, care::notification::v1::VariableType> SuppliedVariables(care::notification::v1::MessageKind kind);

// A template as PutTemplate and RenderPreview accept it: key fields, sizes,
// syntax (TEMPLATE_SYNTAX_ERROR), every placeholder declared, and declared
// variables the kind supplies with the same type (INVALID_FIELD).
absl::Status ValidateTemplate(const care::notification::v1::Template& t);

// The built-in template of a kind and channel in `locale` ("en", "vi",
// "ja"), if there is one.
std::optional<care::notification::v1::Template> BuiltInTemplate(care::notification::v1::MessageKind kind,
                                                                const std::string& locale);

}  // namespace care::notification
