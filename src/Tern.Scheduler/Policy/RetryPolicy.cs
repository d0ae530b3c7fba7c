namespace Tern.Scheduler;

/// <summary>
/// When a message that was deferred is tried again, and when it gives up (mail-behaviour.md "Queue and
/// retries"): the n-th attempt that fails is followed by a wait of <see cref="FirstRetry"/> x 2^(n-1)
/// plus jitter, so attempts come at 0, 7.5 min, +15 min, +30 min ... +16 h; after
/// <see cref="MaxRetries"/> retries a recipient still deferred fails (RFC 5321 section 4.5.4.1: give up
/// after days, with a notice). A delay notice goes out after <see cref="DelayNoticeAfter"/> failed attempts.
/// </summary>
public sealed record RetryPolicy
{
    public TimeSpan FirstRetry { get; init; } = TimeSpan.FromMinutes(7.5);

    /// <summary>Retries after the first attempt; a message may set its own (<c>tern queue set --max-retries</c>).</summary>
    public int MaxRetries { get; init; } = 8;

    /// <summary>Each wait grows by a random fraction in [0, Jitter) of itself, so that a burst deferred together does not come back together.</summary>
    public double Jitter { get; init; } = 0.05;

    /// <summary>The delay notice (DSN, Action: delayed) follows this many failed attempts (0: never).</summary>
    public int DelayNoticeAfter { get; init; } = 5;

    /// <summary>The wait after the <paramref name="attempts"/>-th attempt (1 = the first) failed, without jitter.</summary>
    public TimeSpan BaseDelay(int attempts) => FirstRetry * Math.Pow(2, Math.Clamp(attempts - 1, 0, 20));

    /// <summary>The wait after the <paramref name="attempts"/>-th attempt, with a jitter drawn from <paramref name="random"/> in [0, 1).</summary>
    public TimeSpan Delay(int attempts, double random)
    {
        var delay = BaseDelay(attempts);
        return delay + (delay * (Jitter * Math.Clamp(random, 0, 1)));
    }

    /// <summary>The retries a message gets: its own limit, or the policy's when it sets none (0).</summary>
    public int RetriesFor(int messageMaxRetries) => messageMaxRetries > 0 ? messageMaxRetries : MaxRetries;

    /// <summary>Whether the <paramref name="attempts"/>-th attempt was the last one (the first plus every retry).</summary>
    public bool IsLast(int attempts, int messageMaxRetries) => attempts >= 1 + RetriesFor(messageMaxRetries);

    /// <summary>
    /// Will-Retry-Until of a delay notice (RFC 3464 section 2.3.9): <paramref name="now"/> plus every wait
    /// still to come after the <paramref name="attempts"/>-th attempt (without jitter).
    /// </summary>
    public DateTimeOffset RetryUntil(DateTimeOffset now, int attempts, int messageMaxRetries)
    {
        var until = now;
        for (var n = attempts; n < 1 + RetriesFor(messageMaxRetries); n++)
        {
            until += BaseDelay(n);
        }

        return until;
    }

    /// <summary>Whether the <paramref name="attempts"/>-th failed attempt is the one that sends the delay notice.</summary>
    public bool SendsDelayNotice(int attempts) => DelayNoticeAfter > 0 && attempts == DelayNoticeAfter;
}
