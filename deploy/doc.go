// Package deploy holds what it takes to run the chat on a server: an nginx site
// (nginx/chat.conf), a systemd unit (systemd/chat.service) and the steps that install
// them (README.md). It has no code of its own; its tests check the shipped files with
// the real nginx, systemd-analyze and chat binary, so the files cannot rot unnoticed.
package deploy
