#!/usr/bin/env bash
# Regenerates the seed corpus in fuzz/corpus/<target>/ from the cases below,
# which mirror the integration tests' requests (tests/integration/*_test.cc):
# text-format messages encoded with protoc, and byte layouts of the targets
# that read their input with fuzz_support.h's ByteReader. Checked-in output;
# run again after changing a case or a target's input layout.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus
protos=(-I protos -I fuzz)

# encode <type> <proto file>: text format on stdin -> wire format on stdout.
encode() { protoc "${protos[@]}" --encode="$1" "$2"; }
# be <bytes> <value>: <value> big-endian in <bytes> bytes (ByteReader::Range
# reads a value in [lo, hi] as lo + that number, so pass value - lo).
be() {
  local n=$1 v=$2 s=""
  for ((i = n - 1; i >= 0; i--)); do s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done
  printf "$s"
}
# str <length bytes> <text>: ByteReader::String's layout.
str() { be "$1" "$(printf %s "$2" | wc -c)"; printf %s "$2"; }

# ------------------------------------------------------------------ requests
# First byte: the request type (requests_fuzzer.cc, kChecks).
req() {  # req <selector> <name> <type> <proto>
  mkdir -p $out/requests
  { be 1 "$1"; encode "$3" "$4"; } > "$out/requests/$2"
}
P=care/promotion/v1/promotion.proto L=care/loyalty/v1/loyalty.proto
C=care/complaint/v1/complaint.proto N=care/notification/v1/notification.proto

req 0 quote-guest care.promotion.v1.QuoteRequest $P <<'T'
customer { guest { guest_key: "g-1" } } currency_code: "USD"
lines { line_id: "l1" sku: "A" category: "shoes" quantity: 2 unit_price { amount_minor: 10000 currency_code: "USD" } }
lines { line_id: "l2" sku: "B" quantity: 1 unit_price { amount_minor: 2599 } }
shipping { amount_minor: 500 currency_code: "USD" } voucher_codes: "SAVE10" view: QUOTE_VIEW_FULL
T
req 0 quote-member-big care.promotion.v1.QuoteRequest $P <<'T'
customer { member_id: "m-1" } currency_code: "VND"
lines { line_id: "l1" sku: "A" quantity: 10000 unit_price { amount_minor: 1000000 } }
shipping { amount_minor: 100000000 }
T
req 1 campaign-cart care.promotion.v1.CreateCampaignRequest $P <<'T'
request_id: "r-1" campaign_id: "summer-10"
campaign { display_name: "Summer 10%" time_zone: "Asia/Ho_Chi_Minh" currency_code: "USD"
  starts_at { seconds: 1925000000 } ends_at { seconds: 1926000000 }
  rules { rule_id: "r1" conditions { min_spend { amount { amount_minor: 5000 currency_code: "USD" } } }
          effects { cart_discount { value { value { percent_off_bps: 1000 } } max_discount { amount_minor: 2000 } } } }
  limits { max_redemptions: 1 max_discount_total { amount_minor: 100000 currency_code: "USD" } } }
T
req 1 campaign-bundle care.promotion.v1.CreateCampaignRequest $P <<'T'
request_id: "r-2"
campaign { display_name: "Any 2 for 15" currency_code: "EUR"
  rules { rule_id: "b" effects { bundle_price { components { items { categories: "socks" } quantity: 2 }
                                                price { value { fixed_price { amount_minor: 1500 currency_code: "USD" } } } } } }
  limits { max_redemptions: -5 max_discount_per_order { amount_minor: -1 } } }
T
req 2 purchase care.loyalty.v1.RecordPurchaseRequest $L <<'T'
request_id: "p-1" member_id: "m-1" order_id: "o-1" amount { amount_minor: 150000 currency_code: "VND" }
purchase_time { seconds: 1779990000 }
lines { line_id: "a" sku: "A" quantity: 1 amount { amount_minor: 100000 currency_code: "VND" } }
lines { line_id: "b" sku: "B" quantity: 2 amount { amount_minor: 50000 currency_code: "VND" } }
campaign_ids: "summer-10" store_id: "hcm-03"
T
req 2 purchase-max care.loyalty.v1.RecordPurchaseRequest $L <<'T'
member_id: "m-1" order_id: "o-2" amount { amount_minor: 1000000000000000 currency_code: "VND" }
lines { line_id: "a" quantity: 1 amount { amount_minor: 999999999999999 currency_code: "VND" } }
lines { line_id: "b" quantity: 1 amount { amount_minor: 1 currency_code: "VND" } }
T
req 3 member care.loyalty.v1.Member $L <<'T'
member_id: "m-1" name: "Nguyễn Thị Minh Khai" email: "minh@example.com" phone: "+84901234567"
locale: "vi-VN" time_zone: "Asia/Ho_Chi_Minh" birthday { year: 1990 month: 2 day: 29 } segment: "vip"
marketing_consents { channel: MESSAGE_CHANNEL_EMAIL }
T
req 4 program care.loyalty.v1.Program $L <<'T'
display_name: "CareSuite Rewards" currency_code: "VND" time_zone: "Asia/Ho_Chi_Minh"
tiers { tier_id: "base" display_name: "Member" rank: 0 benefits { points_multiplier_bps: 10000 support_priority: SUPPORT_PRIORITY_STANDARD } }
tiers { tier_id: "gold" display_name: "Gold" rank: 1 qualifying_spend { amount_minor: 10000000 }
        qualification_window { kind: QUALIFICATION_WINDOW_KIND_LIFETIME }
        benefits { discount_bps: 500 points_multiplier_bps: 100000 free_returns: true support_priority: SUPPORT_PRIORITY_HIGH } }
earn_rule { points_per_unit: 1000000 unit_amount { amount_minor: 1 } rounding: ROUNDING_MODE_FLOOR }
T
req 5 complaint care.complaint.v1.CreateComplaintRequest $C <<'T'
request_id: "c-1" member_id: "m-1" channel: CHANNEL_EMAIL category: CATEGORY_PRODUCT
order_id: "o-1" subject: "Giày bị rách" description: "靴が破れていました。交換をお願いします。"
received_time { seconds: 1779990000 }
T
req 6 calendar care.complaint.v1.BusinessCalendar $C <<'T'
calendar_id: "vn-office" time_zone: "Asia/Ho_Chi_Minh"
weekly_hours { day: WEEKDAY_MONDAY start { hours: 8 } end { hours: 12 } }
weekly_hours { day: WEEKDAY_MONDAY start { hours: 13 minutes: 30 } end { hours: 17 minutes: 30 } }
weekly_hours { day: WEEKDAY_SUNDAY start { hours: 0 } end { hours: 24 } }
holidays { date { year: 2026 month: 4 day: 30 } }
T
req 7 policy care.complaint.v1.SlaPolicy $C <<'T'
sla_policy_id: "gold-fast" calendar_id: "vn-office" priorities: PRIORITY_HIGH tier_ids: "gold"
first_response_target { seconds: 3600 } resolution_target { seconds: 86400 }
escalation_levels { level: 1 target: SLA_TARGET_RESOLUTION offset { seconds: -600 }
                    actions: ESCALATION_ACTION_REASSIGN_TO_SUPERVISOR_QUEUE supervisor_queue_team_id: "sup" }
T
req 8 ingest-alert care.notification.v1.IngestEventRequest $N <<'T'
event_id: "promotion:summer-10:3" source: "promotion" occurred_at { seconds: 1779990000 }
promotion_alert { campaign_id: "summer-10" campaign_version: 3 title: "Ưu đãi mùa hè" target_tier_ids: "gold"
  starts_at { seconds: 1780300000 } ends_at { seconds: 1780900000 } notice { seconds: 259200 }
  channels: MESSAGE_CHANNEL_EMAIL campaign_time_zone: "America/New_York" variables { key: "code" value: "SAVE10" } }
T
req 8 ingest-transactional care.notification.v1.IngestEventRequest $N <<'T'
event_id: "shop:o-1" source: "shop" occurred_at { seconds: 1779990000 }
transactional { member_id: "m-1" template_key: "order.shipped" variables { key: "order_id" value: "o-1" } }
T
req 9 preferences care.notification.v1.UpdatePreferencesRequest $N <<'T'
request_id: "u-1" update_mask { paths: "send_window" paths: "time_zone" }
preferences { member_id: "m-1" time_zone: "America/New_York" send_window { start { hours: 10 } end { hours: 12 } } }
T
req 10 consent care.notification.v1.SetConsentRequest $N <<'T'
request_id: "s-1" member_id: "m-1" channel: MESSAGE_CHANNEL_WEBHOOK granted: true
source: CONSENT_SOURCE_AGENT legal_basis: LEGAL_BASIS_CONSENT evidence: "call 2026-05-01" effective_time { seconds: 1779000000 }
T

# ------------------------------------------------------------------- pricing
mkdir -p $out/pricing
price() { encode care.fuzz.PricingCase care/fuzz/pricing_case.proto > "$out/pricing/$1"; }
camp='display_name: "c" currency_code: "USD" time_zone: "UTC" version: 1 state: CAMPAIGN_STATE_ACTIVE
      starts_at { seconds: 1924990000 } ends_at { seconds: 1925010000 }'
cart='customer { member_id: "m-1" } currency_code: "USD" view: QUOTE_VIEW_FULL
      lines { line_id: "l1" sku: "A" category: "shoes" quantity: 3 unit_price { amount_minor: 10000 } }
      lines { line_id: "l2" sku: "B" category: "socks" quantity: 5 unit_price { amount_minor: 999 } }
      shipping { amount_minor: 1500 }'
price stacking <<T
request { $cart } now_seconds: 978315200 tier_id: "gold" tier_discount_bps: 1000 tier_free_shipping: true
campaigns { campaign_id: "pct" $camp rights { priority: 10 }
  rules { rule_id: "r1" effects { cart_discount { value { value { percent_off_bps: 1000 } } } } } }
campaigns { campaign_id: "amt" $camp
  rules { rule_id: "r1" effects { cart_discount { value { value { amount_off { amount_minor: 1000 } } } } } }
  limits { max_discount_per_order { amount_minor: 700 } max_discount_total { amount_minor: 5000 } max_redemptions: 3 } }
used { } used { redemptions: 2 discount: 4500 }
T
price bundle-nth <<T
request { $cart } now_seconds: 978315200
campaigns { campaign_id: "any2" $camp
  rules { rule_id: "b" effects { bundle_price { components { items { categories: "socks" } quantity: 2 }
                                                price { value { fixed_price { amount_minor: 1500 } } } } } } }
campaigns { campaign_id: "third" $camp rights { stacking: STACKING_MODE_EXCLUSIVE }
  rules { rule_id: "n" conditions { min_quantity { items { skus: "A" } quantity: 3 } }
          effects { nth_item_discount { items { skus: "A" } nth: 3 value { value { percent_off_bps: 10000 } } grouping: NTH_ITEM_GROUPING_PER_SKU } } } }
goodwill { amount_off { amount_minor: 500 currency_code: "USD" } }
T
price member-price-free-shipping <<T
request { $cart } now_seconds: 978315200 tier_id: "silver" opted_in: true segment: "vip"
campaigns { campaign_id: "mp" $camp audience { members_only: true segments: "vip" opted_in_only: true }
  rules { rule_id: "m" conditions { customer_tier { tier_ids: "silver" } }
          effects { member_price { prices { sku: "A" unit_price { value { fixed_price { amount_minor: 8000 } } tier_values { key: "silver" value { fixed_price { amount_minor: 7000 } } } } } } }
          effects { free_shipping { } } effects { free_returns { } } } }
campaigns { campaign_id: "item" $camp voucher_required: true
  rules { rule_id: "i" effects { item_discount { items { categories: "shoes" } value { value { amount_off { amount_minor: 20000 } } } max_units: 2 } } } }
unlocked: "item"
T

# --------------------------------------------------------------- quote_token
mkdir -p $out/quote_token
{ be 1 0; printf 'q3.fuzz.CgQIARAB.AAAA'; } > $out/quote_token/client-garbage
{ be 1 0; printf 'q3.fuzz..'; } > $out/quote_token/client-empty
{ be 1 1; head -c 300 /dev/zero | tr '\0' '\7'; } > $out/quote_token/signed-lines
{ be 1 1; printf 'vnd-and-some-lines-with-discounts-and-applied-campaigns-%.0s' 1 2 3 4; } > $out/quote_token/signed-text

# ------------------------------------------------------------- business_time
# zone index, spans (day, start+5, end+5), from-2000, holidays, d1, d2, amount.
mkdir -p $out/business_time
bt() {  # bt <name> <zone index> <from unix> "<day start end>..." <d1> <d2> <amount seconds>
  local name=$1 zone=$2 from=$3 spans=$4 d1=$5 d2=$6 amount=$7
  { be 1 "$zone"; be 1 $(($(wc -w <<<"$spans") / 3))
    set -- $spans
    while [ $# -gt 0 ]; do be 1 "$1"; be 2 $(($2 + 5)); be 2 $(($3 + 5)); shift 3; done
    be 4 $((from - 946684800)); be 1 1; be 1 3   # one holiday, three days after `from`
    be 3 "$d1"; be 3 "$d2"; be 3 "$amount"; } > "$out/business_time/$name"
}
weekdays="0 540 1020 1 540 1020 2 540 1020 3 540 1020 4 540 1020"
bt new-york-spring 1 1772800000 "$weekdays 6 60 180" 300000 900000 14400
bt new-york-fall 1 1793350000 "$weekdays 6 60 150" 100000 200000 28800
bt lord-howe-split 3 1775300000 "0 120 720 0 780 1440 6 0 1440" 86400 400000 36000
bt santiago-midnight 4 1775300000 "5 0 120 6 1380 1440" 50000 600000 7200
bt apia-skipped-day 7 1325100000 "4 0 1440 5 0 1440 6 0 1440" 10000 200000 100000

# ----------------------------------------------------------------- templates
mkdir -p $out/templates
tpl() {  # tpl <name> <text> <var name> <var value>
  { be 1 0; str 2 "$2"; be 1 1; str 1 "$3"; str 1 "$4"; str 1 "{{x}}"; str 1 "ja-JP"; str 1 "en"; } \
    > "$out/templates/$1"
}
tpl alert 'Xin chào {{member_name}}, {{ campaign_title }} bắt đầu {{starts_at}}. {{{{ literal' member_name 'Minh'
tpl unclosed 'Hello {{member_name' member_name '{{member_id}}'
tpl bad-name '{{Member}} {{1x}} {{}} }}{{' x y
{ be 1 1; encode care.notification.v1.Template $N <<'T'; } > $out/templates/template-message
kind: MESSAGE_KIND_POINTS_EXPIRING channel: MESSAGE_CHANNEL_EMAIL locale: "vi" subject: "{{points}} điểm sắp hết hạn"
body: "Chào {{member_name}}, {{points}} điểm hết hạn vào {{expire_time}}." html_body: "<p>{{points}}</p>"
variables { name: "points" type: VARIABLE_TYPE_INTEGER required: true }
T

# -------------------------------------------------------------------- errors
mkdir -p $out/errors
er() {  # er <name> <a> <b> <max length> <text> <id>
  { be 8 "$2"; be 8 "$3"; be 1 1; be 8 7; be 2 "$4"; str 2 "$5"; str 1 "$6"
    be 8 42; be 8 0; be 8 100; str 1 "Asia/Tokyo"; str 1 "VND"; be 1 1; str 1 "lines[0].sku"; str 1 "too long"; } \
    > "$out/errors/$1"
}
er vietnamese 1000 3 20 "Nguyễn Thị Minh Khai" "member-1"
er japanese 999999999999999 2 5 "日本語のテキスト" "bad id!"
er overflow 9223372036854775807 9223372036854775807 0 $'\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80' ""
# -------------------------------------------------------------------- egress
mkdir -p $out/egress
eg() {  # eg <name> <allowlist> <cluster cidrs> <address text> <host> <scheme> <v6 0|1> <raw address bytes as \x..>
  { str 2 "$2"; str 2 "$3"; str 1 "$4"; str 1 "$5"; str 1 "$6"; be 1 "$7"; printf "$8"; } > "$out/egress/$1"
}
eg loopback-allowed "127.0.0.1/32" "" "127.0.0.1" "127.0.0.1" https 0 '\x7f\x00\x00\x01'
eg metadata "" "" "169.254.169.254" "metadata.internal" http 0 '\xa9\xfe\xa9\xfe'
eg named-host "smtp-relay.mail.svc.cluster.local,*.corp.example,10.20.0.0/24" "203.0.113.0/24" "10.20.0.0/24" "hooks.corp.example" smtp 0 '\x0a\x14\x00\x05'
eg mapped-v6 "fd00::/8" "" "::ffff:10.0.0.1" "[::1]" gopher 1 '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x0a\x00\x00\x01'
eg public-v6 "" "" "2001:4860::8888" "example.com" https 1 '\x20\x01\x48\x60\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x88\x88'
eg bad-list "10.0.0.1/8,http://x" "cluster.local" "1.2.3" "" file 0 '\x08\x08\x08\x08'

echo "corpus written to $out/"
