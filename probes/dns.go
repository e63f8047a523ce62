package probes

// PLACEHOLDER: replaced by the real dns probe kind.

import (
	"context"
)

type dnsSpec struct{}

func dnsKind() Kind { return Kind{Name: "dns", New: func() Spec { return &dnsSpec{} }} }

func (s *dnsSpec) Validate(eg *Egress) error { return nil } // placeholder

func (s *dnsSpec) Probe(ctx context.Context, r Run) Result {
	res := Result{}
	return res.Fail("dns probes are not built yet")
}
