package probes

// PLACEHOLDER: replaced by the real heartbeat probe kind.

import (
	"context"
)

type heartbeatSpec struct{}

func heartbeatKind() Kind {
	return Kind{Name: "heartbeat", New: func() Spec { return &heartbeatSpec{} }}
}

func (s *heartbeatSpec) Validate(eg *Egress) error { return nil } // placeholder

func (s *heartbeatSpec) Probe(ctx context.Context, r Run) Result {
	res := Result{}
	return res.Fail("heartbeat probes are not built yet")
}
