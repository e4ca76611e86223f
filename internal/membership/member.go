package membership

import "fmt"

// State is what this node believes about a member.
type State int

const (
	// StateAlive: the member answers probes.
	StateAlive State = iota
	// StateSuspect: the member missed probes and will be declared dead
	// unless it refutes in time. Live treats it as live (see Live).
	// memberlist v0.7.0 keeps suspicion to itself (no delegate hears of
	// it), so this package does not report it yet: a member goes from
	// Alive straight to Dead.
	StateSuspect
	// StateDead: the member stopped answering and the suspicion timed out.
	StateDead
	// StateLeft: the member left on purpose (Leave or Close).
	StateLeft
)

func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Live reports whether a member in state s should be sent work: alive or
// suspect.
func (s State) Live() bool { return s == StateAlive || s == StateSuspect }

// Member is one node of the cluster as this node sees it.
type Member struct {
	// ID is the node's NodeID (its memberlist name).
	ID string
	// Addr is the host:port of the node's memberlist (gossip) endpoint.
	Addr string
	// Meta is the node's last gossiped metadata. It is the zero Meta when
	// the node's metadata could not be decoded.
	Meta  Meta
	State State
	// Self marks this node.
	Self bool
}

// EventKind says what happened to a member.
type EventKind int

const (
	// EventJoin: the member became live: it is new, or came back after
	// it was dead or left (a fail and return while OnChange was busy
	// comes as this Join alone). A process restarted faster than failure
	// detection is the same member to memberlist: nothing is reported
	// unless its Meta changed.
	EventJoin EventKind = iota
	// EventUpdate: a live member changed its Meta or address.
	EventUpdate
	// EventLeave: the member left on purpose.
	EventLeave
	// EventFail: the member was declared dead.
	EventFail
)

func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventFail:
		return "fail"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change of one member, with the member as it is after it.
type Event struct {
	Kind   EventKind
	Member Member
}
