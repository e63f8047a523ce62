package slack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/lookout-status/lookout/clock"
)

// Defaults for HandlerConfig.
const (
	DefaultMaxBody = 64 << 10
	// DefaultTimeout leaves room inside the 3 s Slack waits for an answer.
	DefaultTimeout = 2500 * time.Millisecond
	// SignatureWindow is how far a request's timestamp may be from now, in
	// either direction, per Slack's verification spec.
	SignatureWindow = 5 * time.Minute
	// maxSeen bounds the replay set; see HandlerConfig.
	maxSeen = 4096
)

// Action kinds.
const (
	KindAcknowledge = "acknowledge"
	KindResolve     = "resolve"
)

// ErrUnknownUser is what an ActionFunc or CommandFunc returns when the Slack
// user is not linked to a Lookout user; the user is told so.
var ErrUnknownUser = errors.New("slack user not linked to a lookout user")

// UnlinkedText is the ephemeral answer to a user ErrUnknownUser was returned for.
const UnlinkedText = "Your Slack account is not linked to a Lookout user."

// Action is a button press on an incident message.
type Action struct {
	Kind          string // KindAcknowledge or KindResolve
	IncidentID    string
	SlackUserID   string
	SlackUserName string
	TeamID        string
	ChannelID     string
	At            time.Time // when Lookout received it (HandlerConfig.Clock)
}

// Command is a `/lookout …` slash command.
type Command struct {
	// Name is "ack", "resolve" or "oncall"; help and unknown subcommands are
	// answered by the handler without calling CommandFunc.
	Name          string
	Args          []string // after the subcommand: the incident ID, the team
	SlackUserID   string
	SlackUserName string
	TeamID        string
	ChannelID     string
	At            time.Time
}

// ActionFunc applies an action; reply, if not empty, is shown to the user
// alone. It must be idempotent and honour ctx (Slack waits 3 s in all).
type ActionFunc func(ctx context.Context, a Action) (reply string, err error)

// CommandFunc runs a slash command; reply (mrkdwn, escaped by the caller) is
// shown to the user alone.
type CommandFunc func(ctx context.Context, c Command) (reply string, err error)

// HandlerConfig configures NewHandler.
type HandlerConfig struct {
	// SigningSecret verifies every request (the app's "Signing Secret").
	// Empty: every request is refused with 503.
	SigningSecret string
	Clock         clock.Clock // default clock.Real
	MaxBody       int64       // bytes; default DefaultMaxBody
	Actions       ActionFunc
	Commands      CommandFunc
	Logger        *slog.Logger
	// Timeout bounds Actions and Commands; default DefaultTimeout.
	Timeout time.Duration
	// HTTPClient posts action replies to the response_url Slack sent
	// (only https://hooks.slack.com/…); default a client with a 5 s timeout.
	HTTPClient *http.Client
}

// NewHandler returns the handler for both Slack request URLs, Interactivity
// (/integrations/slack/actions) and Slash Commands
// (/integrations/slack/commands): it dispatches on the body, a `payload` field
// for interactions, a `command` field for slash commands.
//
// Every request is read whole up to MaxBody (beyond: 413), then verified with
// Slack's v0 signature over those exact bytes and a timestamp within
// SignatureWindow of Clock.Now() (otherwise 401), and only then parsed.
//
// A valid callback delivered twice runs once: button presses are remembered
// by (team, user, action_id, action_ts or trigger_id) for twice the
// signature window in a bounded in-memory set (the oldest entries go first
// beyond 4096). The set is per process: with several replicas, or after a
// restart, a replay may reach ActionFunc again, which is why actions must be
// idempotent (acknowledging an acknowledged incident changes nothing).
func NewHandler(cfg HandlerConfig) http.Handler {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("integration", "slack")
	if cfg.SigningSecret == "" {
		cfg.Logger.Error("slack signing secret not set: refusing every slack request")
	}
	return &handler{cfg: cfg, seen: newSeenSet(maxSeen)}
}

type handler struct {
	cfg  HandlerConfig
	seen *seenSet
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.cfg.SigningSecret == "" {
		http.Error(w, "slack integration not configured", http.StatusServiceUnavailable)
		return
	}
	if r.ContentLength > h.cfg.MaxBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	now := h.cfg.Clock.Now()
	if err := verify(h.cfg.SigningSecret, r.Header, body, now); err != nil {
		h.cfg.Logger.Info("slack request refused", "err", err, "remote_addr", r.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}

	// Parse the verified bytes through a copy of the request, so the slack-go
	// parsers see exactly what was signed.
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.Form, r2.PostForm = nil, nil
	if err := r2.ParseForm(); err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	switch {
	case r2.PostForm.Has("payload"):
		h.serveInteraction(w, r, r2.PostForm.Get("payload"), now)
	case r2.PostForm.Has("command"):
		h.serveCommand(w, r2, now)
	default:
		http.Error(w, "neither an interaction payload nor a slash command", http.StatusBadRequest)
	}
}

// verify checks Slack's v0 request signature: X-Slack-Signature must be
// "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)), and
// X-Slack-Request-Timestamp within SignatureWindow of now.
func verify(secret string, hdr http.Header, body []byte, now time.Time) error {
	tsHeader := hdr.Get("X-Slack-Request-Timestamp")
	sig := hdr.Get("X-Slack-Signature")
	if tsHeader == "" || sig == "" {
		return errors.New("missing signature headers")
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return errors.New("malformed timestamp")
	}
	if skew := now.Unix() - ts; skew > int64(SignatureWindow/time.Second) || skew < -int64(SignatureWindow/time.Second) {
		return fmt.Errorf("timestamp %ds away from now", skew)
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return errors.New("unknown signature version")
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return errors.New("malformed signature")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + tsHeader + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("signature mismatch")
	}
	return nil
}

var actionKinds = map[string]string{
	ActionIDAcknowledge: KindAcknowledge,
	ActionIDResolve:     KindResolve,
}

func (h *handler) serveInteraction(w http.ResponseWriter, r *http.Request, payload string, now time.Time) {
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		w.WriteHeader(http.StatusOK) // nothing else is offered; acknowledge and ignore
		return
	}
	var replies []string
	for _, ba := range cb.ActionCallback.BlockActions {
		if ba == nil {
			continue
		}
		kind, known := actionKinds[ba.ActionID]
		if !known || !validIncidentID(ba.Value) {
			continue
		}
		id := ba.ActionTs
		if id == "" {
			id = cb.ActionTs
		}
		if id == "" {
			id = cb.TriggerID
		}
		if id == "" {
			id = r.Header.Get("X-Slack-Signature") // a byte-for-byte replay at least
		}
		key := strings.Join([]string{cb.Team.ID, cb.User.ID, ba.ActionID, id}, "\x00")
		if !h.seen.add(key, now, 2*SignatureWindow) {
			h.cfg.Logger.Info("duplicate slack action ignored", "action", kind, "incident", ba.Value, "slack_user", cb.User.ID)
			continue
		}
		if h.cfg.Actions == nil {
			replies = append(replies, "Lookout does not handle Slack buttons here.")
			continue
		}
		a := Action{
			Kind:          kind,
			IncidentID:    ba.Value,
			SlackUserID:   cb.User.ID,
			SlackUserName: userName(cb.User),
			TeamID:        cb.Team.ID,
			ChannelID:     cb.Channel.ID,
			At:            now,
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
		reply, err := h.cfg.Actions(ctx, a)
		cancel()
		if err != nil {
			reply = h.errorReply(err, reply, "action", kind, "incident", a.IncidentID, "slack_user", a.SlackUserID)
		}
		if reply != "" {
			replies = append(replies, reply)
		}
	}
	// Slack ignores the body of a block_actions acknowledgement: answer now,
	// then tell the user through response_url.
	w.WriteHeader(http.StatusOK)
	if len(replies) == 0 || cb.ResponseURL == "" {
		return
	}
	_ = http.NewResponseController(w).Flush()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := h.respond(ctx, cb.ResponseURL, strings.Join(replies, "\n")); err != nil {
		h.cfg.Logger.Warn("slack action reply not delivered", "err", err)
	}
}

// errorReply logs err once and returns what the user should see.
func (h *handler) errorReply(err error, reply string, attrs ...any) string {
	if errors.Is(err, ErrUnknownUser) {
		h.cfg.Logger.Info("slack user not linked", attrs...)
		return UnlinkedText
	}
	h.cfg.Logger.Error("slack request failed", append(attrs, "err", err)...)
	if reply != "" {
		return reply
	}
	return "Sorry, that did not work; the error was logged."
}

// respond posts an ephemeral message to a Slack response_url. Only Slack's
// own hooks host is accepted: the URL arrives in the (signed) payload, but
// Lookout still never posts anywhere else.
func (h *handler) respond(ctx context.Context, responseURL, text string) error {
	u, err := url.Parse(responseURL)
	if err != nil || u.Scheme != "https" || (u.Host != "hooks.slack.com" && u.Host != "hooks.slack-gov.com") {
		return fmt.Errorf("response_url %q: not a slack hooks URL", responseURL)
	}
	body, err := json.Marshal(ephemeral(text))
	if err != nil {
		return fmt.Errorf("encode reply: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build reply: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("post reply: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("post reply: status %d", resp.StatusCode)
	}
	return nil
}

type ephemeralMessage struct {
	ResponseType    string `json:"response_type"`
	ReplaceOriginal bool   `json:"replace_original"`
	Text            string `json:"text"`
}

func ephemeral(text string) ephemeralMessage {
	return ephemeralMessage{ResponseType: "ephemeral", Text: text}
}

func (h *handler) serveCommand(w http.ResponseWriter, r *http.Request, now time.Time) {
	sc, err := slack.SlashCommandParse(r)
	if err != nil || sc.Command == "" {
		http.Error(w, "malformed slash command", http.StatusBadRequest)
		return
	}
	fields := strings.Fields(sc.Text)
	if len(fields) > 16 {
		fields = fields[:16]
	}
	name := ""
	if len(fields) > 0 {
		name = strings.ToLower(fields[0])
	}
	cmd := Command{
		SlackUserID:   sc.UserID,
		SlackUserName: sc.UserName,
		TeamID:        sc.TeamID,
		ChannelID:     sc.ChannelID,
		At:            now,
	}
	if len(fields) > 1 {
		cmd.Args = fields[1:]
	}
	switch name {
	case "ack", "acknowledge":
		cmd.Name = "ack"
	case "resolve":
		cmd.Name = "resolve"
	case "oncall", "on-call", "who":
		cmd.Name = "oncall"
	default:
		writeJSON(w, ephemeral(helpText(sc.Command)))
		return
	}
	if (cmd.Name == "ack" || cmd.Name == "resolve") && (len(cmd.Args) != 1 || !validIncidentID(cmd.Args[0])) {
		writeJSON(w, ephemeral(fmt.Sprintf("Usage: `%s %s INCIDENT-ID`", escape(sc.Command), cmd.Name)))
		return
	}
	if sc.TriggerID != "" {
		key := strings.Join([]string{"command", sc.TeamID, sc.UserID, sc.TriggerID}, "\x00")
		if !h.seen.add(key, now, 2*SignatureWindow) {
			h.cfg.Logger.Info("duplicate slack command ignored", "command", cmd.Name, "slack_user", sc.UserID)
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	if h.cfg.Commands == nil {
		writeJSON(w, ephemeral("Lookout does not handle slash commands here."))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	reply, err := h.cfg.Commands(ctx, cmd)
	cancel()
	if err != nil {
		reply = h.errorReply(err, reply, "command", cmd.Name, "slack_user", cmd.SlackUserID)
	}
	if reply == "" {
		reply = "Done."
	}
	writeJSON(w, ephemeral(reply))
}

func helpText(command string) string {
	c := escape(command)
	return "*Lookout*\n" +
		"`" + c + " ack INCIDENT-ID`: acknowledge an incident (stops paging)\n" +
		"`" + c + " resolve INCIDENT-ID`: resolve an incident\n" +
		"`" + c + " oncall [organization] [team]`: who is on call now (name the organization when you are in several)\n" +
		"`" + c + " help`: this message"
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func userName(u slack.User) string {
	if u.Username != "" {
		return u.Username
	}
	return u.Name
}

// validIncidentID accepts what Lookout issues: short, printable ASCII
// without spaces.
func validIncidentID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// seenSet remembers keys until they expire, holding at most max of them: when
// full, the oldest goes first.
type seenSet struct {
	mu    sync.Mutex
	max   int
	m     map[string]time.Time
	order []seenEntry // insertion order
}

type seenEntry struct {
	key string
	exp time.Time
}

func newSeenSet(max int) *seenSet {
	return &seenSet{max: max, m: make(map[string]time.Time)}
}

// add records key until now+ttl and reports whether it was new.
func (s *seenSet) add(key string, now time.Time, ttl time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.m[key]; ok && now.Before(exp) {
		return false
	}
	for len(s.order) > 0 {
		e := s.order[0]
		if now.Before(e.exp) && len(s.m) < s.max {
			break
		}
		if s.m[e.key] == e.exp {
			delete(s.m, e.key)
		}
		s.order[0] = seenEntry{}
		s.order = s.order[1:]
	}
	exp := now.Add(ttl)
	s.m[key] = exp
	s.order = append(s.order, seenEntry{key, exp})
	return true
}
