package main

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// Private notices: -notices probe sessions each post "/msg <own nickname> probe <runid>
// <seq> <unixnano>" every -notice-every during the measured window. The chat answers a
// direct message to oneself with one `notice` event on that session's own streams only,
// so the time from the POST to that event is what a private answer costs while everyone
// else is connected. A probe posts rarely because the chat limits every session to a
// burst of 5 and then one post per 2 s; spreading the probes over the interval keeps the
// samples from arriving together.
//
// Notice seqs interleave like the senders': probe j owns seqs j, j+n, j+2n, ...

// noticeMargin is how long before the end of the window the probes stop when a reconnect
// storm follows: notices are never replayed, so one still queued when its stream is
// dropped would be lost by design, not by fault.
const noticeMargin = time.Second

// maxProbes bounds -notices; the goal needs a handful, not a crowd.
const maxProbes = 100

// noticeWindow is how long the probes post for, inside the measured window.
func (c *config) noticeWindow() time.Duration {
	if c.storm {
		return max(c.duration-noticeMargin, 0)
	}
	return c.duration
}

// noticesPerProbe is the most notices one probe can be scheduled to post.
func (c *config) noticesPerProbe() int64 {
	if c.notices == 0 || c.noticeEvery <= 0 {
		return 0
	}
	return int64(c.noticeWindow()/c.noticeEvery) + 1
}

// noticeOffset is when probe j of n posts its k-th notice, counted from the window's start.
func noticeOffset(every time.Duration, j, n int, k int64) time.Duration {
	return every*time.Duration(j)/time.Duration(n) + every*time.Duration(k)
}

// noticeLoop posts probe s's notices on schedule until its share of the window is over.
func (b *bench) noticeLoop(s *stream, j, n int, start time.Time) {
	window := b.cfg.noticeWindow()
	for k := int64(0); ; k++ {
		off := noticeOffset(b.cfg.noticeEvery, j, n, k)
		seq := k*int64(n) + int64(j)
		if off >= window || seq >= b.noticeTotal {
			return
		}
		if sleepCtx(b.stopCtx, time.Until(start.Add(off))) != nil {
			return
		}
		b.postNotice(b.stopCtx, s, seq)
	}
}

// noticeText is the command a probe posts: a direct message to itself carrying the marker.
// Only digits, letters and spaces, so HTML escaping in the fragment leaves it intact.
func noticeText(nick string, prefix []byte, seq, sentNs int64) string {
	text := make([]byte, 0, 64)
	text = append(text, "/msg "...)
	text = append(text, nick...)
	text = append(text, ' ')
	text = append(text, prefix...)
	text = strconv.AppendInt(text, seq, 10)
	text = append(text, ' ')
	text = strconv.AppendInt(text, sentNs, 10)
	return string(text)
}

func (b *bench) postNotice(ctx context.Context, s *stream, seq int64) {
	_ = s.poster.connect(ctx, b) // not timed; a failure shows again in send
	sentNs := time.Now().UnixNano()
	b.noticeSentNs[seq].Store(sentNs)
	b.noticesSent.Add(1)
	form := "text=" + url.QueryEscape(noticeText(s.nick, b.noticePrefix, seq, sentNs))
	resp, err := s.poster.send(ctx, b, "/messages", s.cookie, form)
	kind := ""
	switch {
	case err != nil:
		kind = errKind(err)
	case okStatus(resp.StatusCode):
		b.noticeState[seq].Store(msgAcked)
		b.noticesAcked.Add(1)
		b.noticeAckedBy[s.probeIdx].Add(1)
		return
	default:
		kind = strconv.Itoa(resp.StatusCode)
	}
	b.noticeState[seq].Store(msgFailed)
	b.postMu.Lock()
	b.noticeErrors[kind]++
	b.postMu.Unlock()
}

// deliverNotice accounts one notice event at probe stream s. Notices that carry no
// marker of this run (a rate-limit answer, say) are counted by the caller and ignored.
func (b *bench) deliverNotice(s *stream, data []byte, now, readNs int64) {
	seq, sentNs, ok := parseMarker(data, b.noticePrefix)
	if !ok {
		return
	}
	n := int64(b.cfg.notices)
	if seq < 0 || seq >= b.noticeTotal || seq%n != int64(s.probeIdx) {
		s.noticeForeign++ // another session's private message must never arrive here
		return
	}
	if s.noticeSeen.testAndSet(seq) {
		s.noticeDups++
		return
	}
	s.noticeUnique.Add(1)
	b.noticeLat.record(s.idx, now-sentNs)
	b.noticeReadLat.record(s.idx, readNs-sentNs)
}

// noticesDrained reports whether every probe still connected holds as many distinct
// notices as it had acknowledged, so the run does not end on one still in flight.
func (b *bench) noticesDrained() bool {
	for _, s := range b.healthy {
		if s.probe && !s.lost.Load() &&
			s.noticeUnique.Load() < b.noticeAckedBy[s.probeIdx].Load() {
			return false
		}
	}
	return true
}

// NoticeReport covers the private notices of -notices.
type NoticeReport struct {
	Probes     int              `json:"probes"`
	EveryS     float64          `json:"every_s"`
	Sent       int64            `json:"sent"`
	Acked      int64            `json:"acked"`
	Received   int64            `json:"received"`
	Missing    int64            `json:"missing"`
	Duplicates int64            `json:"duplicates"`
	Foreign    int64            `json:"foreign"`
	PostErrors map[string]int64 `json:"post_errors"`
	Latency    Dist             `json:"latency"`
	// ReadLatency is to when the tool read the notice, its own wait included.
	ReadLatency Dist `json:"latency_as_read"`
}

// accountNotices compares what each probe received with what it had acknowledged. A probe
// whose stream was lost mid-run is left out, as with broadcasts.
func (b *bench) accountNotices() *NoticeReport {
	nr := &NoticeReport{Probes: b.cfg.notices, EveryS: b.cfg.noticeEvery.Seconds(),
		Sent: b.noticesSent.Load(), Acked: b.noticesAcked.Load(), PostErrors: b.noticeErrors}
	n := int64(b.cfg.notices)
	for _, s := range b.healthy {
		if !s.probe {
			continue
		}
		nr.Duplicates += s.noticeDups
		nr.Foreign += s.noticeForeign
		if s.lost.Load() {
			continue
		}
		for seq := int64(s.probeIdx); seq < b.noticeTotal; seq += n {
			if b.noticeState[seq].Load() != msgAcked {
				continue
			}
			if s.noticeSeen.has(seq) {
				nr.Received++
			} else {
				nr.Missing++
			}
		}
	}
	nr.Latency = distOfHist(b.noticeLat.snapshot())
	nr.ReadLatency = distOfHist(b.noticeReadLat.snapshot())
	return nr
}
