package handlers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chatroom/chat/store"
	"github.com/chatroom/chat/views"
)

// BenchmarkRenderFrame measures what each broadcast pays once: render the message
// component and encode it as an SSE frame.
func BenchmarkRenderFrame(b *testing.B) {
	m := views.Message{ID: 123456, Kind: views.KindText, Nickname: "Ann Lee",
		Text: "hello @bob, the notes are at https://example.com/notes?id=42 — see you",
		Time: time.Now()}
	ctx := context.Background()

	b.ReportAllocs()
	for b.Loop() {
		if _, err := renderFrame(ctx, eventMessage, m.ID, views.MessageView(m)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay measures a reconnect's catch-up of 50 missed messages, from the
// in-memory frames and, as after a restart, from the store.
func BenchmarkReplay(b *testing.B) {
	ts := newTestServer(b)
	ids := ts.publish(b, 200)
	last := fmt.Sprint(ids[len(ids)-50-1])
	ctx := context.Background()

	b.Run("memory", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			frames, _, n, err := ts.chat.room.catchUp(ctx, last)
			if err != nil || n != 50 || len(frames) != 50 {
				b.Fatalf("catchUp = %d frames, %d replayed, %v; want 50", len(frames), n, err)
			}
		}
	})

	b.Run("store", func(b *testing.B) {
		fresh, err := newRoom(ctx, ts.store, ts.chat.log)
		if err != nil {
			b.Fatal(err)
		}
		fresh.hub = ts.chat.hub
		b.ReportAllocs()
		for b.Loop() {
			frames, _, n, err := fresh.catchUp(ctx, last)
			if err != nil || n != 50 || len(frames) != 50 {
				b.Fatalf("catchUp = %d frames, %d replayed, %v; want 50", len(frames), n, err)
			}
		}
	})

	b.Run("history", func(b *testing.B) {
		fresh, _ := newRoom(ctx, ts.store, ts.chat.log)
		b.ReportAllocs()
		for b.Loop() {
			fresh.snapshot.Bytes = nil // render it each time, as after every new message
			if _, _, _, err := fresh.catchUp(ctx, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPublish measures one message through the room: store commit, render,
// frame and broadcast to no one.
func BenchmarkPublish(b *testing.B) {
	ts := newTestServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, err := ts.chat.room.publish(ctx, store.Message{Kind: store.KindText,
			Nickname: "Ann", Text: "a message of ordinary length for a chat room", Time: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
	}
}
