package notify

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// deliveryBuckets span 10 ms to 30 s, the range of one Deliver call.
var deliveryBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// workerMetrics are the outbox worker's Prometheus collectors.
type workerMetrics struct {
	total    *prometheus.CounterVec   // channel, outcome
	duration *prometheus.HistogramVec // channel
	depth    prometheus.Gauge
	oldest   prometheus.Gauge

	mu       sync.Mutex
	channels map[string]*channelSeries
}

// channelSeries caches one channel's series.
type channelSeries struct {
	delivered, failed, gaveUp prometheus.Counter
	duration                  prometheus.Observer
}

// newWorkerMetrics builds the collectors and registers them on reg unless
// it is nil.
func newWorkerMetrics(reg prometheus.Registerer) (*workerMetrics, error) {
	m := &workerMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_notifications_total",
			Help: "Notification delivery attempts, by channel and outcome (delivered, failed and retried, gave_up).",
		}, []string{"channel", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lookout_notification_duration_seconds",
			Help:    "Wall time of notification delivery attempts.",
			Buckets: deliveryBuckets,
		}, []string{"channel"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lookout_outbox_depth",
			Help: "Notifications waiting in the outbox (not delivered, not given up).",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lookout_outbox_oldest_pending_seconds",
			Help: "Age of the oldest notification waiting in the outbox; 0 when it is empty.",
		}),
		channels: map[string]*channelSeries{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.total, m.duration, m.depth, m.oldest} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// channel returns ch's series, creating them (at 0) the first time.
func (m *workerMetrics) channel(ch string) *channelSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.channels[ch]
	if s == nil {
		s = &channelSeries{
			delivered: m.total.WithLabelValues(ch, string(OutcomeDelivered)),
			failed:    m.total.WithLabelValues(ch, string(OutcomeFailed)),
			gaveUp:    m.total.WithLabelValues(ch, string(OutcomeGaveUp)),
			duration:  m.duration.WithLabelValues(ch),
		}
		m.channels[ch] = s
	}
	return s
}
