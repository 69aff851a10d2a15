//! Carries out a plan through any [`Purger`]: splits URLs into batches, sends a few at once,
//! retries what is worth retrying with backoff (honouring `Retry-After`), slows to one request
//! at a time after a rate limit, and reports which URLs were purged and which are pending.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::BackoffBuilder;
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::plan::Wildcard;
use crate::provider::{Failure, FailureKind, FileEntry, Purger, Request};

/// After a stop, how long a request already sent may take to finish. Short, so that a stop
/// takes effect within a second: a request abandoned then stays pending, and is sent again by
/// the next run (purging twice is harmless; losing a purge is not).
pub const STOP_GRACE: Duration = Duration::from_millis(800);

/// The longest `Retry-After` we wait for, so a confused server cannot park a run for hours.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Resolves `grace` after `stop` is cancelled: how long a request already sent may still take.
async fn cancelled_then(stop: &CancellationToken, grace: Duration) {
    stop.cancelled().await;
    tokio::time::sleep(grace).await;
}

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Requests in flight at once (before any rate limit is seen).
    pub concurrency: usize,
    /// Retries of one request after its first attempt.
    pub retries: u32,
    /// First backoff delay; doubles each retry, with jitter.
    pub first_delay: Duration,
    /// Backoff cap.
    pub max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            concurrency: 4,
            retries: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

/// One request to send, and the URLs it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub request: Request,
    pub urls: BTreeSet<String>,
}

/// Splits URLs into `Files` requests of at most `batch_size` entries. With header sets, each URL
/// becomes one entry per set; all of a URL's entries go in consecutive batches.
pub fn batches(
    urls: &[String],
    header_sets: &[BTreeMap<String, String>],
    batch_size: usize,
) -> Vec<Job> {
    let entries: Vec<FileEntry> = urls
        .iter()
        .flat_map(|url| {
            let sets: Vec<BTreeMap<String, String>> = if header_sets.is_empty() {
                vec![BTreeMap::new()]
            } else {
                header_sets.to_vec()
            };
            sets.into_iter().map(move |headers| FileEntry {
                url: url.clone(),
                headers,
            })
        })
        .collect();
    entries
        .chunks(batch_size.max(1))
        .map(|chunk| Job {
            urls: chunk.iter().map(|e| e.url.clone()).collect(),
            request: Request::Files(chunk.to_vec()),
        })
        .collect()
}

/// How many wildcards go in one `Prefixes` request: Cloudflare's API reference says 30
/// prefixes per call (its 2025 limits page says up to 100; 30 is safe either way). CloudFront
/// makes one invalidation of them; bunny.net sends each on its own anyway.
pub const WILDCARDS_PER_REQUEST: usize = 30;

/// The `Prefixes` requests of a compacted plan's wildcards, each standing for the URLs of
/// `urls` its wildcards cover: if it fails, they stay pending.
pub fn wildcard_jobs(wildcards: &[Wildcard], urls: &BTreeSet<String>) -> Vec<Job> {
    wildcards
        .chunks(WILDCARDS_PER_REQUEST)
        .map(|chunk| Job {
            request: Request::Prefixes(chunk.iter().map(Wildcard::scope).collect()),
            urls: urls
                .iter()
                .filter(|u| chunk.iter().any(|w| w.covers(u)))
                .cloned()
                .collect(),
        })
        .collect()
}

/// What happened to one job.
#[derive(Debug, Clone)]
pub struct JobResult {
    pub job: Job,
    pub attempts: u32,
    pub result: Result<(), Failure>,
}

/// The outcome of a whole purge.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub results: Vec<JobResult>,
    /// The service refused a request for its count of entries and said how many it takes:
    /// the batch size to use from now on (and to remember for the next run).
    pub batch_limit: Option<usize>,
}

impl Outcome {
    /// URLs whose every request succeeded.
    pub fn purged(&self) -> BTreeSet<String> {
        let failed = self.pending();
        self.results
            .iter()
            .filter(|r| r.result.is_ok())
            .flat_map(|r| r.job.urls.iter().cloned())
            .filter(|u| !failed.contains(u))
            .collect()
    }

    /// URLs with at least one failed request.
    pub fn pending(&self) -> BTreeSet<String> {
        self.results
            .iter()
            .filter(|r| r.result.is_err())
            .flat_map(|r| r.job.urls.iter().cloned())
            .collect()
    }

    pub fn all_ok(&self) -> bool {
        self.results.iter().all(|r| r.result.is_ok())
    }

    /// Requests sent, counting retries.
    pub fn requests(&self) -> u32 {
        self.results.iter().map(|r| r.attempts).sum()
    }

    pub fn failures(&self) -> impl Iterator<Item = (&Job, &Failure)> {
        self.results
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(|f| (&r.job, f)))
    }
}

/// Shared between the jobs of one purge: after a rate limit, everybody waits and slows down.
struct Gate {
    permits: Semaphore,
    /// Set by the first rate limit: from then on every attempt also takes `serial`.
    throttled: AtomicBool,
    serial: tokio::sync::Mutex<()>,
    pause_until: Mutex<Option<Instant>>,
    /// A job failed for good in a way that will fail the others alike (service down,
    /// credentials refused): jobs not yet sent are not sent, and fail the same way.
    gave_up: Mutex<Option<Failure>>,
    /// Set by a request refused for its count: larger jobs not yet sent are split first.
    batch_limit: Mutex<Option<usize>>,
}

impl Gate {
    fn lower_batch_limit(&self, limit: usize) {
        if let Ok(mut l) = self.batch_limit.lock() {
            *l = Some(l.map_or(limit, |old| old.min(limit)).max(1));
        }
    }

    fn batch_limit(&self) -> Option<usize> {
        self.batch_limit.lock().ok().and_then(|l| *l)
    }

    fn slow_down(&self, wait: Duration) {
        self.throttled.store(true, Ordering::SeqCst);
        if let Ok(mut until) = self.pause_until.lock() {
            let candidate = Instant::now() + wait;
            if until.is_none_or(|u| u < candidate) {
                *until = Some(candidate);
            }
        }
    }

    async fn wait_for_pause(&self) {
        let until = self.pause_until.lock().ok().and_then(|u| *u);
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// The delays between attempts: about `first_delay`, doubling, capped, with jitter.
fn backoff(policy: &Policy) -> backon::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(policy.first_delay)
        .with_max_delay(policy.max_delay)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(policy.retries as usize)
        .build()
}

/// Calls `call` until it succeeds, fails for good, or the retries run out: for the API calls
/// around a purge (zone lookup, token check), with the same policy as purge requests.
pub async fn retry<T, F, Fut>(
    policy: &Policy,
    what: &str,
    stop: &CancellationToken,
    note: &(dyn Fn(String) + Sync),
    mut call: F,
) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut delays = backoff(policy);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failure = match call().await {
            Ok(value) => return Ok(value),
            Err(f) => f,
        };
        let delay = match (failure.kind, delays.next()) {
            (FailureKind::Transient, Some(d)) if !stop.is_cancelled() => failure
                .retry_after
                .map_or(d, |r| r.min(LONGEST_RETRY_AFTER)),
            _ => return Err(failure),
        };
        note(format!(
            "{what}: {failure}; retrying in {:.1}s (retry {attempt} of {})",
            delay.as_secs_f64(),
            policy.retries
        ));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => return Err(failure),
        }
    }
}

/// Sends every job through `purger`, a few at once, retrying per `policy`. `note` receives one
/// line per retry, for the user.
pub async fn execute<P: Purger>(
    purger: &P,
    jobs: Vec<Job>,
    policy: &Policy,
    stop: &CancellationToken,
    note: &(dyn Fn(String) + Sync),
) -> Outcome {
    let concurrency = policy.concurrency.max(1);
    let gate = Gate {
        permits: Semaphore::new(concurrency),
        throttled: AtomicBool::new(false),
        serial: tokio::sync::Mutex::new(()),
        pause_until: Mutex::new(None),
        gave_up: Mutex::new(None),
        batch_limit: Mutex::new(None),
    };
    let total = jobs.len();
    let mut results: Vec<(usize, Vec<JobResult>)> =
        futures_util::stream::iter(jobs.into_iter().enumerate())
            .map(|(i, job)| {
                let gate = &gate;
                let run = Run {
                    purger,
                    policy,
                    gate,
                    stop,
                    note,
                    total,
                };
                async move { (i, run.send_finding_refused(job, i).await) }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    results.sort_by_key(|(i, _)| *i);
    Outcome {
        results: results.into_iter().flat_map(|(_, r)| r).collect(),
        batch_limit: gate.batch_limit(),
    }
}

/// `job` cut into jobs of at most `limit` entries, if it has more.
fn split_to(job: &Job, limit: usize) -> Option<Vec<Job>> {
    let Request::Files(entries) = &job.request else {
        return None;
    };
    (entries.len() > limit).then(|| {
        entries
            .chunks(limit.max(1))
            .map(|chunk| Job {
                urls: chunk.iter().map(|e| e.url.clone()).collect(),
                request: Request::Files(chunk.to_vec()),
            })
            .collect()
    })
}

/// The two halves of a request of several URLs, when it was refused as a whole (400) for
/// something one of its URLs may hold: a URL the API considers malformed refuses its batch.
fn halves(result: &JobResult) -> Option<(Job, Job)> {
    let refused = result
        .result
        .as_ref()
        .err()
        .is_some_and(|f| f.kind == FailureKind::Rejected && f.status == Some(400));
    let Request::Files(entries) = &result.job.request else {
        return None;
    };
    if !refused || entries.len() < 2 {
        return None;
    }
    let (a, b) = entries.split_at(entries.len() / 2);
    let job = |entries: &[FileEntry]| Job {
        urls: entries.iter().map(|e| e.url.clone()).collect(),
        request: Request::Files(entries.to_vec()),
    };
    Some((job(a), job(b)))
}

/// What every job of one purge shares.
struct Run<'a, P> {
    purger: &'a P,
    policy: &'a Policy,
    gate: &'a Gate,
    stop: &'a CancellationToken,
    note: &'a (dyn Fn(String) + Sync),
    /// Jobs in the purge, for messages.
    total: usize,
}

impl<P: Purger> Run<'_, P> {
    /// Sends `job`; when the service refuses it whole (400), sends its halves, and theirs, until
    /// the refused URLs are alone: the others are purged, and only those stay pending.
    async fn send_finding_refused(&self, job: Job, index: usize) -> Vec<JobResult> {
        // A smaller batch size was learned meanwhile: this job goes in parts of that size.
        if let Some(parts) = self.gate.batch_limit().and_then(|l| split_to(&job, l)) {
            return self.send_parts(parts, index).await;
        }
        let result = self.send_with_retries(job, index).await;
        let limit = result
            .result
            .as_ref()
            .err()
            .and_then(|f| self.purger.smaller_batch(&result.job.request, f));
        if let Some(limit) = limit.filter(|_| !self.stop.is_cancelled())
            && let Some(parts) = split_to(&result.job, limit)
        {
            self.gate.lower_batch_limit(limit);
            (self.note)(format!(
                "{} request {} of {} was refused for its {} URLs ({}); sending at most {limit} per request from now on",
                self.purger.name(),
                index + 1,
                self.total,
                result.job.urls.len(),
                result
                    .result
                    .as_ref()
                    .err()
                    .map(|f| f.to_string())
                    .unwrap_or_default(),
            ));
            let mut out = self.send_parts(parts, index).await;
            // The refused whole counts among the requests sent.
            if let Some(first) = out.first_mut() {
                first.attempts += result.attempts;
            }
            return out;
        }
        let Some((a, b)) = halves(&result).filter(|_| !self.stop.is_cancelled()) else {
            return vec![self.isolated(result)];
        };
        (self.note)(format!(
            "{} request {} of {} was refused as a whole ({}); sending its {} URLs in two halves to find the one refused",
            self.purger.name(),
            index + 1,
            self.total,
            result
                .result
                .as_ref()
                .err()
                .map(|f| f.to_string())
                .unwrap_or_default(),
            result.job.urls.len()
        ));
        let mut out = Box::pin(self.send_finding_refused(a, index)).await;
        out.extend(Box::pin(self.send_finding_refused(b, index)).await);
        // The refused whole counts among the requests sent.
        if let Some(first) = out.first_mut() {
            first.attempts += result.attempts;
        }
        out
    }

    async fn send_parts(&self, parts: Vec<Job>, index: usize) -> Vec<JobResult> {
        let mut out = Vec::new();
        for part in parts {
            out.extend(Box::pin(self.send_finding_refused(part, index)).await);
        }
        out
    }

    /// A request of one URL refused with 400: the hint says so, and never blames sitepurge.
    fn isolated(&self, mut result: JobResult) -> JobResult {
        if let (Err(failure), Request::Files(entries)) = (&mut result.result, &result.job.request)
            && failure.kind == FailureKind::Rejected
            && failure.status == Some(400)
            && entries.len() == 1
        {
            failure.hint = Some(format!(
                "the service refused this one URL ({}) for the reason above; it stays pending, so the next run tries it again: if the file name is unusual (|, control characters), rename the file",
                entries[0].url
            ));
        }
        result
    }

    async fn send_with_retries(&self, job: Job, index: usize) -> JobResult {
        let Run {
            purger,
            policy,
            gate,
            stop,
            note,
            total,
        } = *self;
        let mut backoff = backoff(policy);
        let mut attempts = 0;
        let end = |job: Job, attempts: u32, result: Result<(), Failure>| JobResult {
            job,
            attempts,
            result,
        };
        let not_sent = |why: &str| Failure::new(FailureKind::Transient, None, why.to_string());
        loop {
            if stop.is_cancelled() {
                return end(job, attempts, Err(not_sent("stopped before it was sent")));
            }
            // Wait for a slot, then (after a rate limit) for our turn and the pause. A stop ends
            // any of these waits at once.
            let ready = async {
                let permit = gate.permits.acquire().await.ok();
                let serial = if gate.throttled.load(Ordering::SeqCst) {
                    Some(gate.serial.lock().await)
                } else {
                    None
                };
                gate.wait_for_pause().await;
                (permit, serial)
            };
            let (permit, serial) = tokio::select! {
                held = ready => held,
                () = stop.cancelled() => {
                    return end(job, attempts, Err(not_sent("stopped before it was sent")));
                }
            };
            if permit.is_none() {
                return end(job, attempts, Err(not_sent("purge was cancelled")));
            }
            let cause = gate.gave_up.lock().ok().and_then(|g| g.clone());
            if let Some(mut skipped) = cause {
                // Not sent; it counts as failing like the request that made us give up.
                skipped.detail = match skipped.kind {
                    FailureKind::Credentials => {
                        "not sent: an earlier request was refused for its credentials".into()
                    }
                    FailureKind::Unsupported => {
                        "not sent: an earlier request showed the service does not take it".into()
                    }
                    _ => "not sent: the service stayed unreachable for an earlier request".into(),
                };
                return end(job, attempts, Err(skipped));
            }
            attempts += 1;
            // A request already on its way may finish after a stop, for a few seconds at most.
            let result = tokio::select! {
                result = purger.send(&job.request) => result,
                () = cancelled_then(stop, STOP_GRACE) => {
                    Err(not_sent("stopped while in flight (no answer within the grace period)"))
                }
            };
            drop(serial);
            drop(permit);
            let failure = match result {
                Ok(()) => return end(job, attempts, Ok(())),
                Err(f) => f,
            };
            let delay = match (failure.kind, backoff.next()) {
                (FailureKind::Transient, Some(delay)) if !stop.is_cancelled() => failure
                    .retry_after
                    .map_or(delay, |d| d.min(LONGEST_RETRY_AFTER)),
                _ => {
                    // Unreachable after every retry, or credentials refused: the others would
                    // fare alike, so the jobs still waiting are not sent. (An HTTP error on one
                    // request may be about that request alone: the others still go.)
                    let unreachable =
                        failure.kind == FailureKind::Transient && failure.status.is_none();
                    if (unreachable || failure.kind.is_setup())
                        && let Ok(mut g) = gate.gave_up.lock()
                    {
                        g.get_or_insert_with(|| failure.clone());
                    }
                    return end(job, attempts, Err(failure));
                }
            };
            if failure.rate_limited {
                gate.slow_down(delay);
            }
            note(format!(
                "{} request {} of {}: {failure}; retrying in {:.1}s (retry {} of {})",
                purger.name(),
                index + 1,
                total,
                delay.as_secs_f64(),
                attempts,
                policy.retries
            ));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicUsize;

    /// A provider that answers from a script and records what it was sent.
    struct Scripted {
        answers: Mutex<VecDeque<Result<(), Failure>>>,
        sent: Mutex<Vec<(Request, Instant)>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl Scripted {
        fn new(answers: Vec<Result<(), Failure>>) -> Scripted {
            Scripted {
                answers: Mutex::new(answers.into()),
                sent: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
            }
        }
        fn sent(&self) -> Vec<(Request, Instant)> {
            self.sent.lock().expect("lock").clone()
        }
    }

    impl Purger for Scripted {
        fn name(&self) -> &'static str {
            "test"
        }
        fn target(&self) -> String {
            "site".into()
        }
        fn batch_size(&self) -> usize {
            3
        }
        fn everything(&self) -> Vec<Request> {
            vec![Request::Everything]
        }
        async fn send(&self, request: &Request) -> Result<(), Failure> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            self.sent
                .lock()
                .expect("lock")
                .push((request.clone(), Instant::now()));
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.answers
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or(Ok(()))
        }
    }

    fn transient(status: u16) -> Failure {
        Failure::new(FailureKind::Transient, Some(status), "")
    }

    fn urls(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("https://example.com/{i:02}"))
            .collect()
    }

    /// `urls` URLs in batches of 3, sent one at a time, never stopped.
    async fn run_serially(p: &impl Purger, urls_n: usize) -> Outcome {
        let mut policy = quick();
        policy.concurrency = 1;
        execute(
            p,
            batches(&urls(urls_n), &[], 3),
            &policy,
            &CancellationToken::new(),
            &|_| {},
        )
        .await
    }

    fn quick() -> Policy {
        Policy {
            concurrency: 4,
            retries: 3,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn batches_never_exceed_the_size_and_cover_every_url() {
        let jobs = batches(&urls(95), &[], 30);
        let sizes: Vec<usize> = jobs.iter().map(|j| j.urls.len()).collect();
        assert_eq!(sizes, [30, 30, 30, 5]);
        let all: BTreeSet<String> = jobs.iter().flat_map(|j| j.urls.clone()).collect();
        assert_eq!(all, urls(95).into_iter().collect());
    }

    #[test]
    fn header_sets_multiply_entries() {
        let mobile = BTreeMap::from([("CF-Device-Type".to_string(), "mobile".to_string())]);
        let desktop = BTreeMap::from([("CF-Device-Type".to_string(), "desktop".to_string())]);
        let jobs = batches(&urls(2), &[mobile.clone(), desktop], 3);
        assert_eq!(jobs.len(), 2);
        let Request::Files(first) = &jobs[0].request else {
            panic!("files")
        };
        assert_eq!(first.len(), 3);
        assert_eq!(first[0].headers, mobile);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_then_succeeds() {
        let p = Scripted::new(vec![Err(transient(500)), Err(transient(500))]);
        let out = execute(
            &p,
            batches(&urls(1), &[], 3),
            &quick(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await;
        assert!(out.all_ok());
        assert_eq!(out.requests(), 3);
        assert_eq!(out.purged().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_a_rejection() {
        let p = Scripted::new(vec![Err(Failure::new(
            FailureKind::Credentials,
            Some(403),
            "",
        ))]);
        let out = execute(
            &p,
            batches(&urls(1), &[], 3),
            &quick(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await;
        assert!(!out.all_ok());
        assert_eq!(out.requests(), 1);
        assert_eq!(out.pending().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_retries() {
        let p = Scripted::new((0..10).map(|_| Err(transient(503))).collect());
        let out = execute(
            &p,
            batches(&urls(1), &[], 3),
            &quick(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await;
        assert_eq!(out.requests(), 4);
        assert!(out.purged().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_and_slows_to_one_request_at_a_time() {
        let mut limited = transient(429);
        limited.retry_after = Some(Duration::from_secs(7));
        limited.rate_limited = true;
        let p = Scripted::new(vec![Err(limited)]);
        let start = Instant::now();
        let out = execute(
            &p,
            batches(&urls(30), &[], 3),
            &quick(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await;
        assert!(out.all_ok());
        let sent = p.sent();
        assert_eq!(sent.len(), 11);
        // The retry waited for the whole Retry-After.
        let retry = sent.iter().skip(1).map(|(_, t)| *t).max().expect("sent");
        assert!(retry - start >= Duration::from_secs(7));
        // Once the limit was seen, requests went one at a time.
        let after: Vec<Instant> = sent
            .iter()
            .map(|(_, t)| *t)
            .filter(|t| *t - start >= Duration::from_secs(7))
            .collect();
        for pair in after.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(10), "{:?}", pair);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_skips_what_was_not_sent_and_lets_in_flight_requests_finish() {
        let p = Scripted::new(vec![]);
        let stop = CancellationToken::new();
        let policy = quick();
        let run = execute(&p, batches(&urls(30), &[], 3), &policy, &stop, &|_| {});
        let stopper = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            stop.cancel();
        };
        let (out, ()) = tokio::join!(run, stopper);
        // The first four requests (3 URLs each) were in flight when the stop came, and finished.
        assert_eq!(out.purged().len(), 12);
        assert_eq!(out.pending().len(), 18);
        assert_eq!(p.sent().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn once_the_service_stays_unreachable_the_rest_are_not_sent() {
        let down = || Failure::new(FailureKind::Transient, None, "cannot connect");
        let p = Scripted::new((0..100).map(|_| Err(down())).collect());
        let out = run_serially(&p, 30).await;
        // The first request: 1 + 3 retries; the other nine are never sent.
        assert_eq!(p.sent().len(), 4);
        assert_eq!(out.pending().len(), 30);
        assert!(
            out.failures()
                .skip(1)
                .all(|(_, f)| f.detail.contains("not sent"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_refused_credentials_the_rest_fail_as_credentials_too() {
        let refused = || Failure::new(FailureKind::Credentials, Some(403), "");
        let p = Scripted::new((0..100).map(|_| Err(refused())).collect());
        let out = run_serially(&p, 30).await;
        // One request refused; the other nine are not sent, and fail the same way, so the run
        // exits as a credentials error.
        assert_eq!(p.sent().len(), 1);
        assert_eq!(out.pending().len(), 30);
        assert!(
            out.failures()
                .all(|(_, f)| f.kind == FailureKind::Credentials)
        );
        assert!(
            out.failures()
                .skip(1)
                .all(|(_, f)| f.detail.contains("refused for its credentials"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unsupported_method_is_neither_retried_nor_sent_again() {
        let unsupported = || Failure::new(FailureKind::Unsupported, Some(501), "");
        let p = Scripted::new((0..100).map(|_| Err(unsupported())).collect());
        let start = Instant::now();
        let out = run_serially(&p, 30).await;
        assert_eq!(p.sent().len(), 1, "no retry, no other request");
        // One request's own time (the fake takes 10 ms), and no backoff after it.
        assert_eq!(start.elapsed(), Duration::from_millis(10), "no backoff");
        assert_eq!(out.pending().len(), 30);
        assert!(
            out.failures()
                .all(|(_, f)| f.kind == FailureKind::Unsupported)
        );
        assert!(
            out.failures()
                .skip(1)
                .all(|(_, f)| f.detail.contains("does not take it"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_http_error_on_one_request_does_not_stop_the_others() {
        let p = Scripted::new((0..4).map(|_| Err(transient(500))).collect());
        let out = run_serially(&p, 9).await;
        assert_eq!(p.sent().len(), 6);
        assert_eq!(out.purged().len(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_a_long_rate_limit_pause_at_once() {
        let mut limited = transient(429);
        limited.retry_after = Some(Duration::from_secs(600));
        limited.rate_limited = true;
        let p = Scripted::new(vec![Ok(()), Err(limited)]);
        let stop = CancellationToken::new();
        let mut policy = quick();
        policy.concurrency = 1;
        let start = Instant::now();
        let run = execute(&p, batches(&urls(9), &[], 3), &policy, &stop, &|_| {});
        let stopper = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            stop.cancel();
        };
        let (out, ()) = tokio::join!(run, stopper);
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(out.purged().len(), 3, "the first request's URLs");
        assert_eq!(out.pending().len(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_at_a_stop_is_abandoned_after_the_grace() {
        struct Hang;
        impl Purger for Hang {
            fn name(&self) -> &'static str {
                "hang"
            }
            fn target(&self) -> String {
                "x".into()
            }
            fn batch_size(&self) -> usize {
                3
            }
            fn everything(&self) -> Vec<Request> {
                Vec::new()
            }
            async fn send(&self, _: &Request) -> Result<(), Failure> {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        }
        let stop = CancellationToken::new();
        let start = Instant::now();
        let policy = quick();
        let run = execute(&Hang, batches(&urls(3), &[], 3), &policy, &stop, &|_| {});
        let stopper = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stop.cancel();
        };
        let (out, ()) = tokio::join!(run, stopper);
        assert_eq!(start.elapsed(), Duration::from_secs(1) + STOP_GRACE);
        assert_eq!(out.pending().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_repeats_transient_failures_only() {
        let calls = AtomicUsize::new(0);
        let result: Result<u8, Failure> = retry(
            &quick(),
            "lookup",
            &CancellationToken::new(),
            &|_| {},
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(transient(503)),
                    _ => Ok(7),
                }
            },
        )
        .await;
        assert_eq!(result.expect("third time"), 7);
        let calls = AtomicUsize::new(0);
        let result: Result<u8, Failure> = retry(
            &quick(),
            "lookup",
            &CancellationToken::new(),
            &|_| {},
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Failure::new(FailureKind::Credentials, Some(403), ""))
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn sends_a_few_requests_at_once() {
        let p = Scripted::new(vec![]);
        let out = execute(
            &p,
            batches(&urls(30), &[], 3),
            &quick(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await;
        assert!(out.all_ok());
        assert_eq!(p.max_in_flight.load(Ordering::SeqCst), 4);
    }

    /// Refuses (400) any request naming a URL that contains "bad", as a strict API does.
    struct Strict {
        sent: Mutex<Vec<usize>>,
    }

    impl Purger for Strict {
        fn name(&self) -> &'static str {
            "strict"
        }
        fn target(&self) -> String {
            "site".into()
        }
        fn batch_size(&self) -> usize {
            30
        }
        fn everything(&self) -> Vec<Request> {
            vec![]
        }
        async fn send(&self, request: &Request) -> Result<(), Failure> {
            let Request::Files(entries) = request else {
                return Ok(());
            };
            self.sent.lock().expect("lock").push(entries.len());
            match entries.iter().find(|e| e.url.contains("bad")) {
                Some(e) => {
                    let mut f = Failure::new(FailureKind::Rejected, Some(400), "refused");
                    f.errors = vec![crate::provider::ApiError {
                        code: 1016,
                        message: format!("Unable to purge {}, which is an invalid URL", e.url),
                    }];
                    Err(f)
                }
                None => Ok(()),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_refused_for_one_url_is_split_until_only_that_url_stays_pending() {
        let p = Strict {
            sent: Mutex::new(Vec::new()),
        };
        let mut list = urls(16);
        list[11] = "https://example.com/a-bad|url.html".into();
        let out = execute(
            &p,
            batches(&list, &[], 16),
            &quick(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await;
        let bad: BTreeSet<String> = ["https://example.com/a-bad|url.html".to_string()].into();
        assert_eq!(out.pending(), bad);
        assert_eq!(out.purged().len(), 15);
        // 16 refused; its halves of 8 (the second refused), that one's first half of 4
        // (refused), its halves of 2 (the second refused), its single URLs, then the last 4.
        assert_eq!(*p.sent.lock().expect("lock"), [16, 8, 8, 4, 2, 2, 1, 1, 4]);
        assert_eq!(out.requests(), 9);
        let failures: Vec<&Failure> = out.failures().map(|(_, f)| f).collect();
        assert_eq!(failures.len(), 1);
        let hint = failures[0].hint.clone().unwrap_or_default();
        assert!(hint.contains("refused this one URL"), "{hint}");
        assert!(!hint.contains("bug"), "{hint}");
    }

    /// Refuses (400) any request of more than 5 entries, saying it takes 5.
    struct Counted {
        sent: Mutex<Vec<usize>>,
    }

    impl Purger for Counted {
        fn name(&self) -> &'static str {
            "counted"
        }
        fn target(&self) -> String {
            "site".into()
        }
        fn batch_size(&self) -> usize {
            12
        }
        fn everything(&self) -> Vec<Request> {
            vec![]
        }
        async fn send(&self, request: &Request) -> Result<(), Failure> {
            let Request::Files(entries) = request else {
                return Ok(());
            };
            self.sent.lock().expect("lock").push(entries.len());
            if entries.len() > 5 {
                return Err(Failure::new(FailureKind::Rejected, Some(400), "too many"));
            }
            Ok(())
        }
        fn smaller_batch(&self, _: &Request, failure: &Failure) -> Option<usize> {
            (failure.detail == "too many").then_some(5)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_refused_for_its_count_is_cut_to_the_size_given_and_so_are_the_rest() {
        let p = Counted {
            sent: Mutex::new(Vec::new()),
        };
        let mut policy = quick();
        policy.concurrency = 1;
        let out = execute(
            &p,
            batches(&urls(24), &[], 12),
            &policy,
            &CancellationToken::new(),
            &|_| {},
        )
        .await;
        assert!(out.all_ok());
        assert_eq!(out.purged().len(), 24);
        assert_eq!(out.batch_limit, Some(5));
        // The first 12 refused, then 5 + 5 + 2; the second 12 cut before it is sent.
        assert_eq!(*p.sent.lock().expect("lock"), [12, 5, 5, 2, 5, 5, 2]);
        assert_eq!(out.requests(), 7);
    }

    fn set_of(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcard_jobs_stand_for_the_urls_their_wildcards_cover() {
        let wildcard = |url: &str, includes_folder| Wildcard {
            url: url.into(),
            changed: 0,
            unchanged: 0,
            includes_folder,
        };
        let urls = set_of(&[
            "https://example.com/a.html",
            "https://example.com/posts/",
            "https://example.com/posts/a.html",
            "https://www.example.com/docs/",
            "https://www.example.com/docs/x/1.html",
        ]);
        let jobs = wildcard_jobs(
            &[
                wildcard("https://example.com/posts/*", false),
                wildcard("https://www.example.com/docs/*", true),
            ],
            &urls,
        );
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            jobs[0].request,
            Request::Prefixes(vec![
                "example.com/posts/".into(),
                "www.example.com/docs/".into()
            ])
        );
        assert_eq!(
            jobs[0].urls,
            set_of(&[
                "https://example.com/posts/a.html",
                "https://www.example.com/docs/",
                "https://www.example.com/docs/x/1.html",
            ])
        );
        let many: Vec<Wildcard> = (0..31)
            .map(|i| wildcard(&format!("https://example.com/{i}/*"), true))
            .collect();
        let jobs = wildcard_jobs(&many, &urls);
        assert_eq!(jobs.len(), 2);
        assert!(jobs.iter().all(|j| j.urls.is_empty()));
    }
}
