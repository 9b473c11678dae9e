package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

func TestSchedules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID

		nightly, err := s.CreateSchedule(ctx, store.Schedule{ProjectID: pid, Description: "nightly", Cron: "0 2 * * *",
			Timezone: "Europe/Paris", Ref: "master", Variables: map[string]string{"SUITE": "full"}, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		paris, _ := time.LoadLocation("Europe/Paris")
		next := nightly.NextRunAt.In(paris)
		if next.Hour() != 2 || next.Minute() != 0 || !next.After(time.Now()) || time.Until(next) > 25*time.Hour {
			t.Errorf("next run = %v; want the next 02:00 in Paris", next)
		}
		got, err := s.GetSchedule(ctx, nightly.ID)
		if err != nil || !got.NextRunAt.Equal(nightly.NextRunAt) || got.Variables["SUITE"] != "full" || got.Timezone != "Europe/Paris" || !got.Active {
			t.Errorf("GetSchedule = %+v, %v; want %+v", got, err, nightly)
		}

		_, err = s.CreateSchedule(ctx, store.Schedule{ProjectID: pid, Cron: "0 25 * * *", Ref: "master"})
		wantField(t, err, "schedule.cron")
		_, err = s.CreateSchedule(ctx, store.Schedule{ProjectID: pid, Cron: "@daily", Ref: "master", Timezone: "Mars/Olympus"})
		wantField(t, err, "schedule.timezone")
		_, err = s.CreateSchedule(ctx, store.Schedule{ProjectID: pid, Cron: "@daily"})
		wantField(t, err, "schedule.ref")

		nightly.Cron, nightly.Active = "@hourly", false
		updated, err := s.UpdateSchedule(ctx, nightly)
		if err != nil || updated.Cron != "@hourly" || updated.Active || time.Until(updated.NextRunAt) > time.Hour {
			t.Errorf("UpdateSchedule = %+v, %v; want @hourly, inactive, next run within the hour", updated, err)
		}
		pl := mustPipeline(t, s, pid, "master")
		if err := s.SetScheduleLastPipeline(ctx, nightly.ID, pl.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetSchedule(ctx, nightly.ID); got.LastPipelineID == nil || *got.LastPipelineID != pl.ID {
			t.Errorf("last pipeline = %v; want %d", got.LastPipelineID, pl.ID)
		}
		if scs, err := s.ListSchedules(ctx, pid); err != nil || len(scs) != 1 {
			t.Errorf("ListSchedules = %+v, %v", scs, err)
		}
		if err := s.DeleteSchedule(ctx, nightly.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSchedule(ctx, nightly.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted schedule: %v; want ErrNotFound", err)
		}
	})
}

func TestClaimDueSchedules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		pid := mustProject(t, s, "web").ID
		every, err := s.CreateSchedule(ctx, store.Schedule{ProjectID: pid, Cron: "*/5 * * * *", Ref: "main", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateSchedule(ctx, store.Schedule{ProjectID: pid, Cron: "*/5 * * * *", Ref: "paused", Active: false}); err != nil {
			t.Fatal(err)
		}

		if due, err := s.ClaimDueSchedules(ctx, every.NextRunAt.Add(-time.Second)); err != nil || len(due) != 0 {
			t.Fatalf("claim before the time = %+v, %v; want nothing", due, err)
		}
		// The server was down for an hour: the schedule fires once, and its
		// next run is the first one after now.
		late := every.NextRunAt.Add(time.Hour + 30*time.Second)
		due, err := s.ClaimDueSchedules(ctx, late)
		if err != nil || len(due) != 1 || due[0].ID != every.ID || due[0].Ref != "main" {
			t.Fatalf("claim when due = %+v, %v; want the active schedule once", due, err)
		}
		want := late.Truncate(5 * time.Minute).Add(5 * time.Minute)
		if !due[0].NextRunAt.Equal(want) {
			t.Errorf("next run after claim = %v; want %v", due[0].NextRunAt, want)
		}
		if got, _ := s.GetSchedule(ctx, every.ID); !got.NextRunAt.Equal(want) {
			t.Errorf("stored next run = %v; want %v", got.NextRunAt, want)
		}
		if again, err := s.ClaimDueSchedules(ctx, late); err != nil || len(again) != 0 {
			t.Errorf("second claim at the same time = %+v, %v; want nothing", again, err)
		}
	})
}

// Two servers claiming at the same moment never both fire one schedule.
func TestClaimDueSchedulesConcurrently(t *testing.T) {
	storetest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		a, b := open(t, url), open(t, url) // two servers, one database
		pid := mustProject(t, a, "web").ID
		const schedules, rounds = 5, 10
		for range schedules {
			if _, err := a.CreateSchedule(ctx, store.Schedule{ProjectID: pid, Cron: "* * * * *", Ref: "main", Active: true}); err != nil {
				t.Fatal(err)
			}
		}
		fired := map[int64]int{} // schedule → times fired, over every round
		start := time.Now().UTC().Add(time.Minute)
		for round := range rounds {
			at := start.Add(time.Duration(round) * time.Minute)
			var (
				mu  sync.Mutex
				wg  sync.WaitGroup
				go_ = make(chan struct{})
			)
			for _, srv := range []*store.Store{a, b} {
				wg.Go(func() {
					<-go_
					due, err := srv.ClaimDueSchedules(ctx, at)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					defer mu.Unlock()
					for _, sc := range due {
						fired[sc.ID]++
					}
				})
			}
			close(go_)
			wg.Wait()
		}
		if len(fired) != schedules {
			t.Errorf("%d schedules fired; want %d", len(fired), schedules)
		}
		for id, n := range fired {
			if n != rounds {
				t.Errorf("schedule %d fired %d times in %d minutes; want once a minute", id, n, rounds)
			}
		}
	})
}
