namespace Tern.Scheduler.Tests;

/// <summary>The pure parts: destination patterns, the rate limiter, the retry arithmetic, the message schedule.</summary>
public sealed class PolicyTests
{
    [Theory]
    [InlineData("example.com", "example.com", true)]
    [InlineData("example.com", "EXAMPLE.com.", true)]
    [InlineData("example.com", "mx.example.com", false)]
    [InlineData(".example.com", "example.com", true)]
    [InlineData(".example.com", "mx.example.com", true)]
    [InlineData("*.example.com", "aspmx.l.example.com", true)]
    [InlineData("*.example.com", "badexample.com", false)]
    [InlineData(".example.com", "notexample.com", false)]
    public void Destination_patterns_match_names_and_subdomains(string pattern, string name, bool matches) =>
        Assert.Equal(matches, DestinationPolicy.Matches(pattern, name));

    [Fact]
    public void The_first_matching_rule_gives_the_limits_by_domain_or_by_mx()
    {
        var google = new DestinationLimits { MaxConnections = 7 };
        var big = new DestinationLimits { MaxConnections = 3 };
        var policy = new DestinationPolicy
        {
            Rules =
            [
                new DestinationRule(DestinationMatch.Domain, ".big.example", big),
                new DestinationRule(DestinationMatch.Mx, "*.google.example", google),
            ],
        };
        Assert.Same(big, policy.For("mail.big.example", ["aspmx.google.example"]));
        Assert.Same(google, policy.For("customer.example", ["alt1.aspmx.google.example", "mx.customer.example"]));
        Assert.Same(policy.Default, policy.For("other.example", ["mx.other.example"]));
    }

    [Fact]
    public void Gcra_lets_a_burst_through_then_spaces_slots_by_the_rate()
    {
        var frequency = 1_000_000L;
        var gcra = new Gcra(10, 3, frequency);

        // Three back to back, then one every 100 ms.
        Assert.Equal(0, gcra.Reserve(0));
        Assert.Equal(0, gcra.Reserve(0));
        Assert.Equal(0, gcra.Reserve(0));
        Assert.Equal(100_000, gcra.Reserve(0));
        Assert.Equal(200_000, gcra.Reserve(0));

        // After a long pause the burst is available again.
        Assert.Equal(0, gcra.Reserve(10 * frequency));
    }

    [Fact]
    public void Gcra_hands_out_each_slot_once_under_contention()
    {
        var gcra = new Gcra(1000, 1, 1_000_000);
        var waits = new System.Collections.Concurrent.ConcurrentBag<long>();
        Parallel.For(0, 1000, _ => waits.Add(gcra.Reserve(0)));
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => i * 1000L), waits.Order());
    }

    [Fact]
    public void Will_retry_until_adds_every_wait_still_to_come()
    {
        var policy = new RetryPolicy();
        var now = DateTimeOffset.UnixEpoch;

        // After the 5th attempt: waits of 2 h, 4 h, 8 h and 16 h remain (attempts 6 to 9).
        Assert.Equal(now + TimeSpan.FromHours(30), policy.RetryUntil(now, 5, 0));
        Assert.Equal(now, policy.RetryUntil(now, 9, 0));
        Assert.True(policy.IsLast(9, 0));
        Assert.False(policy.IsLast(8, 0));
        Assert.True(policy.IsLast(3, 2));
        Assert.True(policy.SendsDelayNotice(5));
        Assert.False(policy.SendsDelayNotice(6));
    }

    [Fact]
    public void The_message_schedule_moves_removes_and_hands_out_by_time()
    {
        var schedule = new MessageSchedule<int>(100, 0);
        schedule.Set(1, 1000);
        schedule.Set(2, 500);
        schedule.Set(3, 300);
        schedule.Set(1, 200);
        Assert.True(schedule.Remove(3));
        Assert.False(schedule.Remove(3));
        Assert.Equal(2, schedule.Count);
        Assert.False(schedule.TryTakeDue(100, out _));
        Assert.True(schedule.TryTakeDue(250, out var first));
        Assert.Equal(1, first);
        Assert.False(schedule.TryTakeDue(250, out _));
        Assert.True(schedule.TryTakeDue(600, out var second));
        Assert.Equal(2, second);
        Assert.Equal(0, schedule.Count);
        Assert.Empty(schedule.Snapshot());
    }
}
