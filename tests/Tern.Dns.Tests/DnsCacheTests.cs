using DnsClient;

namespace Tern.Dns.Tests;

public sealed class DnsCacheTests
{
    private readonly ManualTimeProvider _clock = new();

    private static DnsCacheKey Key(string name) => new(name, QueryType.A);

    [Fact]
    public void Entries_live_for_their_ttl()
    {
        var cache = new DnsCache(10, _clock);
        cache.Set(Key("a"), "A", TimeSpan.FromSeconds(60));
        Assert.True(cache.TryGet(Key("a"), out var value));
        Assert.Equal("A", value);
        _clock.Advance(TimeSpan.FromSeconds(59));
        Assert.True(cache.TryGet(Key("a"), out _));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(cache.TryGet(Key("a"), out _));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Type_is_part_of_the_key()
    {
        var cache = new DnsCache(10, _clock);
        cache.Set(new DnsCacheKey("a", QueryType.A), "A", TimeSpan.FromSeconds(60));
        Assert.False(cache.TryGet(new DnsCacheKey("a", QueryType.AAAA), out _));
    }

    [Fact]
    public void Zero_ttl_and_zero_capacity_cache_nothing()
    {
        var cache = new DnsCache(10, _clock);
        cache.Set(Key("a"), "A", TimeSpan.Zero);
        Assert.False(cache.TryGet(Key("a"), out _));
        var none = new DnsCache(0, _clock);
        none.Set(Key("a"), "A", TimeSpan.FromSeconds(60));
        Assert.False(none.TryGet(Key("a"), out _));
    }

    [Fact]
    public void Evicts_the_least_recently_used_when_full()
    {
        var cache = new DnsCache(3, _clock);
        var ttl = TimeSpan.FromMinutes(5);
        cache.Set(Key("a"), "A", ttl);
        cache.Set(Key("b"), "B", ttl);
        cache.Set(Key("c"), "C", ttl);
        Assert.True(cache.TryGet(Key("a"), out _));   // a is now the most recently used; b the least
        cache.Set(Key("d"), "D", ttl);
        Assert.Equal(3, cache.Count);
        Assert.False(cache.TryGet(Key("b"), out _));
        Assert.True(cache.TryGet(Key("a"), out _));
        Assert.True(cache.TryGet(Key("c"), out _));
        Assert.True(cache.TryGet(Key("d"), out _));
    }

    [Fact]
    public void Setting_again_replaces_value_and_expiry()
    {
        var cache = new DnsCache(3, _clock);
        cache.Set(Key("a"), "old", TimeSpan.FromSeconds(10));
        cache.Set(Key("a"), "new", TimeSpan.FromSeconds(100));
        _clock.Advance(TimeSpan.FromSeconds(50));
        Assert.True(cache.TryGet(Key("a"), out var value));
        Assert.Equal("new", value);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Stays_bounded_under_concurrent_use()
    {
        var cache = new DnsCache(100, _clock);
        Parallel.For(0, 10_000, i =>
        {
            cache.Set(Key("n" + (i % 500)), i, TimeSpan.FromMinutes(1));
            cache.TryGet(Key("n" + ((i * 7) % 500)), out _);
        });
        Assert.Equal(100, cache.Count);
    }
}
