/*
 * scheduler.h
 *		The background workers that run pipelines on their schedules.
 */
#ifndef INCREMENTAL_SCHEDULER_H
#define INCREMENTAL_SCHEDULER_H

extern bool incr_scheduler_enabled;
extern char *incr_scheduler_databases;
extern int	incr_scheduler_naptime;
extern int	incr_scheduler_max_workers;
extern bool incr_record_idle_runs;
extern int	incr_run_timeout;
extern int	incr_runs_retention;
extern bool scheduler_preloaded;

extern void SchedulerInit(void);

#endif							/* INCREMENTAL_SCHEDULER_H */
