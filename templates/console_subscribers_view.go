package templates

// The console's subscribers pages (console_subscribers.templ).

// ConsoleSubscriberList is the list of an organization's subscriptions.
type ConsoleSubscriberList struct {
	Rows []ConsoleSubscription
	// Total counts every subscription, and by status.
	Total, Pending, Active, Disabled int
	// Range is "101–200 of 340" when the list spans pages ("" otherwise);
	// PrevHref and NextHref lead to the neighbouring pages.
	Range, PrevHref, NextHref string
	// Add is the subscribe form; Created, after it succeeded, the new
	// subscription (a webhook's signing secret is shown this once).
	Add     ConsoleSubscribeForm
	Created *ConsoleCreatedSubscription
}

// ConsoleSubscribeForm subscribes a webhook or an address. Type, URL,
// Email and Checked hold what was typed when a refusal shows it again.
type ConsoleSubscribeForm struct {
	Action           string
	Type, URL, Email string
	Components       []ConsoleComponentChoice
	Error, Field     string
}

// ConsoleComponentChoice is one component's checkbox.
type ConsoleComponentChoice struct {
	ID, Name string
	Checked  bool
}

// ConsoleCreatedSubscription is what the form just made.
type ConsoleCreatedSubscription struct {
	ID, Href, Secret string
	Pending          bool // waiting for its verification (webhook) or confirmation (e-mail)
}

// ConsoleSubscription is one subscription.
type ConsoleSubscription struct {
	ID   string
	Href string // its page, with the delivery log
	Type string // "Webhook" or "E-mail"
	// Destination is the address, or the URL without its query.
	Destination string
	Components  string
	// Status is pending, active or disabled; Label says it in words.
	Status, Label string
	// Reason is why a disabled subscription was disabled.
	Reason                                string
	Created, Confirmed, Disabled, Expires ConsoleTime
	Remove                                string // the remove form's action
}

// ConsoleSubscriber is one subscription and a page of its delivery log.
type ConsoleSubscriber struct {
	Sub        ConsoleSubscription
	ListHref   string
	Deliveries []ConsoleDelivery
	// OlderHref leads to older attempts, NewestHref back to the newest.
	OlderHref, NewestHref string
}

// ConsoleDelivery is one delivery attempt.
type ConsoleDelivery struct {
	At                      ConsoleTime
	Event, Attempt, Outcome string
	// Reply is the endpoint's HTTP status or the mail server's reply.
	Reply, Latency, Error string
	// MessageID is the webhook-id or the e-mail's Message-ID: the same on
	// every attempt of one message.
	MessageID string
}
