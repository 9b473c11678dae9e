package store

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // schedule time zones work on machines without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// Schedule runs a project's pipeline on a ref at the times of a cron
// expression (the nightly run).
type Schedule struct {
	ID          int64  `json:"id"`
	ProjectID   int64  `json:"project_id"`
	Description string `json:"description"`
	// Cron has five fields (minute hour day-of-month month day-of-week) or
	// is a descriptor such as @daily or @every 1h.
	Cron string `json:"cron"`
	// Timezone is an IANA name the cron times are read in (default UTC).
	Timezone       string            `json:"timezone"`
	Ref            string            `json:"ref"`
	Variables      map[string]string `json:"variables,omitempty"`
	Active         bool              `json:"active"`
	NextRunAt      time.Time         `json:"next_run_at"`
	LastPipelineID *int64            `json:"last_pipeline_id,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

// Next returns the first time after t the schedule's cron expression
// selects, in UTC.
func (sc Schedule) Next(t time.Time) (time.Time, error) {
	spec, err := sc.parse()
	if err != nil {
		return time.Time{}, err
	}
	return spec.Next(t).UTC().Truncate(time.Microsecond), nil
}

func (sc Schedule) parse() (cron.Schedule, error) {
	tz := sc.Timezone
	if tz == "" {
		tz = "UTC"
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return nil, invalid("schedule.timezone", "%q is not a known time zone", tz)
	}
	spec, err := cron.ParseStandard("CRON_TZ=" + tz + " " + sc.Cron)
	if err != nil {
		return nil, invalid("schedule.cron", "%q: %v", sc.Cron, err)
	}
	return spec, nil
}

func (sc *Schedule) normalize(t time.Time) error {
	if sc.Timezone == "" {
		sc.Timezone = "UTC"
	}
	if err := CheckRef("schedule.ref", sc.Ref); err != nil {
		return err
	}
	next, err := sc.Next(t)
	if err != nil {
		return err
	}
	if next.IsZero() {
		return invalid("schedule.cron", "%q never fires", sc.Cron)
	}
	sc.NextRunAt = next
	if sc.Variables == nil {
		sc.Variables = map[string]string{}
	}
	return nil
}

const scheduleCols = "id, project_id, description, cron, timezone, ref, variables, active, next_run_at, last_pipeline_id, created_at, updated_at"

func scanSchedule(r interface{ Scan(...any) error }) (Schedule, error) {
	var sc Schedule
	err := r.Scan(&sc.ID, &sc.ProjectID, &sc.Description, &sc.Cron, &sc.Timezone, &sc.Ref, jsonCol{&sc.Variables}, &sc.Active,
		timeCol{&sc.NextRunAt}, &sc.LastPipelineID, timeCol{&sc.CreatedAt}, timeCol{&sc.UpdatedAt})
	return sc, err
}

// CreateSchedule stores a new schedule; its first run is the first time
// after now its cron expression selects.
func (s *Store) CreateSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	t := now()
	if err := sc.normalize(t); err != nil {
		return Schedule{}, err
	}
	sc.CreatedAt, sc.UpdatedAt, sc.LastPipelineID = t, t, nil
	err := s.conn().row(ctx, `INSERT INTO schedules (project_id, description, cron, timezone, ref, variables, active, next_run_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		sc.ProjectID, sc.Description, sc.Cron, sc.Timezone, sc.Ref, jsonArg{sc.Variables}, sc.Active, sc.NextRunAt, t, t).Scan(&sc.ID)
	if err != nil {
		return Schedule{}, fmt.Errorf("store: create schedule: %w", constraint(err, "schedule"))
	}
	return sc, nil
}

// UpdateSchedule changes a schedule's description, cron, timezone, ref,
// variables and active flag, and computes its next run from now.
func (s *Store) UpdateSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	t := now()
	if err := sc.normalize(t); err != nil {
		return Schedule{}, err
	}
	out, err := scanSchedule(s.conn().row(ctx, `UPDATE schedules SET description = ?, cron = ?, timezone = ?, ref = ?, variables = ?,
			active = ?, next_run_at = ?, updated_at = ?
		WHERE id = ? RETURNING `+scheduleCols,
		sc.Description, sc.Cron, sc.Timezone, sc.Ref, jsonArg{sc.Variables}, sc.Active, sc.NextRunAt, t, sc.ID))
	if err != nil {
		return Schedule{}, fmt.Errorf("store: update schedule: %w", notFound(err, "schedule", sc.ID))
	}
	return out, nil
}

// GetSchedule returns the schedule with this ID.
func (s *Store) GetSchedule(ctx context.Context, id int64) (Schedule, error) {
	sc, err := scanSchedule(s.conn().row(ctx, "SELECT "+scheduleCols+" FROM schedules WHERE id = ?", id))
	if err != nil {
		return Schedule{}, fmt.Errorf("store: %w", notFound(err, "schedule", id))
	}
	return sc, nil
}

// ListSchedules returns a project's schedules, oldest first.
func (s *Store) ListSchedules(ctx context.Context, projectID int64) ([]Schedule, error) {
	rows, err := s.conn().query(ctx, "SELECT "+scheduleCols+" FROM schedules WHERE project_id = ? ORDER BY id", projectID)
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	return collect(rows, scanSchedule)
}

// DeleteSchedule deletes a schedule.
func (s *Store) DeleteSchedule(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "schedules", "schedule", id)
}

// SetScheduleLastPipeline records the pipeline a schedule last created.
func (s *Store) SetScheduleLastPipeline(ctx context.Context, id, pipelineID int64) error {
	res, err := s.conn().exec(ctx, "UPDATE schedules SET last_pipeline_id = ? WHERE id = ?", pipelineID, id)
	if err != nil {
		return fmt.Errorf("store: set schedule last pipeline: %w", constraint(err, "schedule"))
	}
	return mustAffect(res, "schedule", id)
}

// claimBatch bounds one claim, so a long outage does not make one huge
// transaction; the rest are claimed on the next tick.
const claimBatch = 100

// ClaimDueSchedules returns the active schedules due at t (next_run_at <= t)
// and, in the same transaction, moves each one's next_run_at to its first
// time after t: a schedule missed while the server was down fires once, not
// once per missed time. Two servers claiming at once never get the same
// schedule: PostgreSQL skips the rows the other holds (FOR UPDATE SKIP
// LOCKED), SQLite lets one writer in at a time. The schedules returned
// carry their new NextRunAt.
func (s *Store) ClaimDueSchedules(ctx context.Context, t time.Time) ([]Schedule, error) {
	var due []Schedule
	err := s.inTx(ctx, func(c conn) error {
		rows, err := c.query(ctx, "SELECT "+scheduleCols+" FROM schedules WHERE active = TRUE AND next_run_at <= ? ORDER BY next_run_at, id LIMIT ?"+s.d.skipLocked,
			t, claimBatch)
		if err != nil {
			return err
		}
		found, err := collect(rows, scanSchedule)
		if err != nil {
			return err
		}
		due = due[:0]
		updated := now()
		for _, sc := range found {
			next, err := sc.Next(t)
			if err != nil || next.IsZero() {
				// Validated when stored; if it ever fails, stop it rather
				// than block every other schedule.
				if _, err := c.exec(ctx, "UPDATE schedules SET active = FALSE, updated_at = ? WHERE id = ?", updated, sc.ID); err != nil {
					return err
				}
				continue
			}
			if _, err := c.exec(ctx, "UPDATE schedules SET next_run_at = ?, updated_at = ? WHERE id = ?", next, updated, sc.ID); err != nil {
				return err
			}
			sc.NextRunAt, sc.UpdatedAt = next, updated
			due = append(due, sc)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim due schedules: %w", err)
	}
	return due, nil
}
