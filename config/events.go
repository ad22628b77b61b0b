package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Events configures the events of file state changes: the store writes
// each in the transaction of the change (a transactional outbox), and a
// dispatcher in every replica delivers them, at least once, to webhooks
// and NATS JetStream.
type Events struct {
	// Enabled writes the events and runs the dispatcher (false). A
	// category that scans (see scan) turns both on for the malware
	// scanner alone: webhooks and NATS still need enabled.
	Enabled bool `yaml:"enabled"`
	// Webhooks receive the events their filters select, signed as the
	// Standard Webhooks specification says.
	Webhooks []Webhook `yaml:"webhooks"`
	// NATS publishes every event to JetStream as a CloudEvent, when its
	// url is set.
	NATS NATS `yaml:"nats"`
	// Retry is the schedule of failed deliveries.
	Retry Retry `yaml:"retry"`
	// Workers is how many deliveries one replica makes at once (4).
	Workers int `yaml:"workers"`
	// Batch is how many events or deliveries one claim takes (100).
	Batch int `yaml:"batch"`
	// Interval is the wait between polls of the outbox when it is empty
	// ("250ms"): about the latency an event adds.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one delivery attempt ("10s").
	Timeout Duration `yaml:"timeout"`
	// Keep is how long delivered and dead events stay in the store before
	// they are pruned ("168h"); dead letters can be redelivered until then.
	Keep Duration `yaml:"keep"`
}

// Webhook is one webhook endpoint. Its filters are ANDed; an empty list
// matches everything.
type Webhook struct {
	// Name names the webhook in metrics, logs and dead letters
	// ("webhook:<name>"); keep it stable, pending deliveries follow it.
	Name string `yaml:"name"`
	// URL receives a POST per event (http or https).
	URL string `yaml:"url"`
	// Secret signs the requests: "whsec_<base64>" as Standard Webhooks
	// writes secrets, or any other string of at least 16 bytes, used as
	// the key. Prefer SecretEnv.
	Secret string `yaml:"secret"`
	// SecretEnv names the environment variable holding the secret instead.
	SecretEnv string `yaml:"secret_env"`
	// Tenants whose events it receives; empty for all.
	Tenants []string `yaml:"tenants"`
	// Categories whose events it receives; empty for all.
	Categories []string `yaml:"categories"`
	// Types of event it receives (file.ready, file.failed, file.expired,
	// file.deleted, file.aborted, file.scanning, file.quarantined); empty
	// for all.
	Types []string `yaml:"types"`
}

// NATS configures the JetStream publisher.
type NATS struct {
	// URL of the NATS server(s), comma-separated; empty publishes nothing.
	URL string `yaml:"url"`
	// Stream receives the events ("PRESIGND_EVENTS"); it is created when
	// missing, over subject_prefix.>, with a 10 minute duplicate window.
	Stream string `yaml:"stream"`
	// SubjectPrefix starts the subjects ("presignd"): an event goes to
	// <prefix>.<tenant>.file.<ready|failed|expired|deleted|aborted>.
	SubjectPrefix string `yaml:"subject_prefix"`
}

// Retry is the schedule of failed deliveries: the wait after the n-th
// failure is drawn uniformly between zero and min(max, initial·2^(n-1)).
type Retry struct {
	// Initial bounds the first wait ("5s").
	Initial Duration `yaml:"initial"`
	// Max bounds every wait ("1h").
	Max Duration `yaml:"max"`
	// GiveUpAfter is how long after an event a failing delivery is given
	// up and kept as a dead letter ("72h").
	GiveUpAfter Duration `yaml:"give_up_after"`
}

// EventTypes are the event types a webhook may select.
var EventTypes = []string{"file.ready", "file.failed", "file.expired", "file.deleted", "file.aborted",
	"file.scanning", "file.quarantined"}

var (
	streamNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	subjectPrefixRe   = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	tenantNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
	envNamePattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (e *Events) applyDefaults() {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&e.Retry.Initial, 5*time.Second)
	def(&e.Retry.Max, time.Hour)
	def(&e.Retry.GiveUpAfter, 72*time.Hour)
	def(&e.Interval, 250*time.Millisecond)
	def(&e.Timeout, 10*time.Second)
	def(&e.Keep, 7*24*time.Hour)
	if e.Workers == 0 {
		e.Workers = 4
	}
	if e.Batch == 0 {
		e.Batch = 100
	}
	if e.NATS.URL != "" {
		if e.NATS.Stream == "" {
			e.NATS.Stream = "PRESIGND_EVENTS"
		}
		if e.NATS.SubjectPrefix == "" {
			e.NATS.SubjectPrefix = "presignd"
		}
	}
}

func (c *Config) validateEvents(add func(key, format string, args ...any)) {
	e := c.Events
	r := e.Retry
	if r.Initial <= 0 {
		add("events.retry.initial", "must be positive")
	}
	if r.Max < r.Initial {
		add("events.retry.max", "must be at least retry.initial (%s), not %s", time.Duration(r.Initial), time.Duration(r.Max))
	}
	if r.GiveUpAfter <= 0 {
		add("events.retry.give_up_after", "must be positive")
	}
	if e.Workers < 1 || e.Workers > 256 {
		add("events.workers", "must be between 1 and 256, not %d", e.Workers)
	}
	if e.Batch < 1 || e.Batch > 10000 {
		add("events.batch", "must be between 1 and 10000, not %d", e.Batch)
	}
	if d := time.Duration(e.Interval); d < time.Millisecond || d > time.Minute {
		add("events.interval", "must be between 1ms and 1m, not %s", d)
	}
	if d := time.Duration(e.Timeout); d < 100*time.Millisecond || d > 5*time.Minute {
		add("events.timeout", "must be between 100ms and 5m, not %s", d)
	}
	if e.Keep < 0 {
		add("events.keep", "must not be negative")
	}
	names := map[string]bool{}
	for i, w := range e.Webhooks {
		key := fmt.Sprintf("events.webhooks[%d]", i)
		if !namePattern.MatchString(w.Name) {
			add(key+".name", "must match %s, not %q", namePattern, w.Name)
		} else if names[w.Name] {
			add(key+".name", "%q names another webhook too", w.Name)
		}
		names[w.Name] = true
		if u, err := url.Parse(w.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			add(key+".url", "%q is not an http or https URL", w.URL)
		}
		switch {
		case w.Secret != "" && w.SecretEnv != "":
			add(key+".secret", "set secret or secret_env, not both")
		case w.Secret == "" && w.SecretEnv == "":
			add(key+".secret", "is required (or secret_env: a variable holding it)")
		case w.Secret != "":
			if msg := checkWebhookSecret(w.Secret); msg != "" {
				add(key+".secret", "%s", msg)
			}
		case !envNamePattern.MatchString(w.SecretEnv):
			add(key+".secret_env", "%q is not an environment variable name", w.SecretEnv)
		}
		for j, t := range w.Tenants {
			if !tenantNamePattern.MatchString(t) {
				add(fmt.Sprintf("%s.tenants[%d]", key, j), "%q is not a tenant name", t)
			}
		}
		for j, cat := range w.Categories {
			if _, ok := c.Categories[cat]; !ok {
				add(fmt.Sprintf("%s.categories[%d]", key, j), "names no configured category: %q", cat)
			}
		}
		for j, t := range w.Types {
			if !slices.Contains(EventTypes, t) {
				add(fmt.Sprintf("%s.types[%d]", key, j), "must be one of %s, not %q", strings.Join(EventTypes, ", "), t)
			}
		}
	}
	if n := e.NATS; n.URL != "" {
		for i, s := range strings.Split(n.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
				add("events.nats.url", "server %d, %q, is not a nats://, tls://, ws:// or wss:// URL", i+1, s)
			}
		}
		if !streamNamePattern.MatchString(n.Stream) {
			add("events.nats.stream", "must be 1-255 letters, digits, '-' or '_', not %q", n.Stream)
		}
		if !subjectPrefixRe.MatchString(n.SubjectPrefix) {
			add("events.nats.subject_prefix", "must be dot-separated tokens of letters, digits, '-' and '_', not %q", n.SubjectPrefix)
		}
	}
}

// checkWebhookSecret describes what is wrong with a webhook secret, or
// returns "".
func checkWebhookSecret(s string) string {
	if rest, ok := strings.CutPrefix(s, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "after whsec_ must come standard base64"
		}
		if len(key) < 16 {
			return fmt.Sprintf("the key after whsec_ must be at least 16 bytes, not %d", len(key))
		}
		return ""
	}
	if len(s) < 16 {
		return fmt.Sprintf("must be at least 16 bytes, not %d", len(s))
	}
	return ""
}

// WebhookSecrets returns each webhook's secret, by name, reading
// secret_env from lookup (os.LookupEnv); a variable unset, empty or
// holding a bad secret is a Problem naming the webhook's key.
func (e *Events) WebhookSecrets(lookup func(string) (string, bool)) (map[string]string, error) {
	out := make(map[string]string, len(e.Webhooks))
	var probs Problems
	for i, w := range e.Webhooks {
		s := w.Secret
		if w.SecretEnv != "" {
			v, _ := lookup(w.SecretEnv)
			if v == "" {
				probs = append(probs, Problem{Key: fmt.Sprintf("events.webhooks[%d].secret_env", i), Env: w.SecretEnv,
					Message: "the variable is not set or empty"})
				continue
			}
			if msg := checkWebhookSecret(v); msg != "" {
				probs = append(probs, Problem{Key: fmt.Sprintf("events.webhooks[%d].secret_env", i), Env: w.SecretEnv, Message: msg})
				continue
			}
			s = v
		}
		out[w.Name] = s
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return out, nil
}
