// Package views renders every page and fragment of the chat with templ components.
// The component that draws a message on page load is the one the hub pushes live.
package views

import (
	"time"
)

// LoginForm is the nickname form, with what the visitor typed and what was wrong.
type LoginForm struct {
	Nickname string
	Error    string
}

// Room is the room page of one session.
type Room struct {
	Me           string
	MentionStyle string // URL of the style sheet that highlights mentions of Me
	Messages     []Message
	Online       []string
	MoreOnline   int // members online beyond those listed
	Form         MessageForm
}

// MessageForm is the composer, with the text kept after an error.
type MessageForm struct {
	Text  string
	Error string
}

// Kind says how a line of the log is drawn.
type Kind string

// The kinds of lines in the log.
const (
	KindText   Kind = "text"
	KindAction Kind = "action"
	KindJoin   Kind = "join"
	KindLeave  Kind = "leave"
	KindRename Kind = "rename"
	KindDirect Kind = "direct"
)

// Message is one line of the log as the screen shows it.
type Message struct {
	// ID is the store id, or zero for a private line that is not kept.
	ID       int64
	Kind     Kind
	Nickname string
	Text     string // for KindRename, the new nickname
	To       string // for KindDirect, the recipient
	Time     time.Time

	// Continued marks a message that follows one from the same person shortly before,
	// so the screen shows it under the same heading.
	Continued bool
}

// Notice is a private line for one session, such as a moderation or command answer.
type Notice struct {
	Text string
}

// Presence is the online list.
type Presence struct {
	Online []string
	More   int
}

// DOMID returns the element id of a kept message: it carries the event id so a test
// or a person can tell a duplicate from a gap.
func (m Message) DOMID() string {
	if m.ID == 0 {
		return ""
	}
	return "m-" + itoa(m.ID)
}

// Mentions returns the mention keys of the people the text names, separated by spaces,
// for the data-mentions attribute that each reader's own style sheet highlights.
func (m Message) Mentions() string {
	if m.Kind != KindText && m.Kind != KindAction && m.Kind != KindDirect {
		return ""
	}
	return joinMentionKeys(m.Text)
}

// ISOTime returns the time in the machine-readable form of a <time> element.
func (m Message) ISOTime() string {
	return m.Time.UTC().Format(time.RFC3339)
}

// ShortTime returns the time as the log shows it.
//
// TODO: show times in the reader's own time zone; without a script the server knows
// none, so the log shows UTC (the <time> element carries the exact instant).
func (m Message) ShortTime() string {
	return m.Time.UTC().Format("15:04")
}

// LongTime returns the time for the tooltip.
func (m Message) LongTime() string {
	return m.Time.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ContinuationWindow is how close two messages of one person must be to be grouped.
const ContinuationWindow = 5 * time.Minute

// Continues reports whether next should be drawn under prev's heading.
func Continues(prev, next Message) bool {
	groupable := func(k Kind) bool { return k == KindText }
	return groupable(prev.Kind) && groupable(next.Kind) &&
		prev.Nickname == next.Nickname &&
		next.Time.Sub(prev.Time) < ContinuationWindow
}

// Group sets Continued on each message that continues the one before it.
func Group(messages []Message) {
	for i := 1; i < len(messages); i++ {
		messages[i].Continued = Continues(messages[i-1], messages[i])
	}
}
