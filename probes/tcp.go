package probes

// PLACEHOLDER: replaced by the real tcp probe kind.

import (
	"context"
)

type tcpSpec struct{}

func tcpKind() Kind { return Kind{Name: "tcp", New: func() Spec { return &tcpSpec{} }} }

func (s *tcpSpec) Validate(eg *Egress) error { return nil } // placeholder

func (s *tcpSpec) Probe(ctx context.Context, r Run) Result {
	res := Result{}
	return res.Fail("tcp probes are not built yet")
}
