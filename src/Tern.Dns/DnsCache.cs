using DnsClient;

namespace Tern.Dns;

/// <summary>Cache key: a normalized name and the record type asked.</summary>
internal readonly record struct DnsCacheKey(string Name, QueryType Type);

/// <summary>
/// A bounded cache of finished answers with per-entry expiry: a dictionary plus a least-recently-used list
/// under one lock (a lookup holds it for a dictionary probe and two pointer moves). Expired entries are
/// dropped when met; when full, the least recently used entry goes.
/// </summary>
internal sealed class DnsCache
{
    private readonly Dictionary<DnsCacheKey, Node> _entries = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _clock;
    private readonly int _capacity;
    private Node? _newest;
    private Node? _oldest;

    public DnsCache(int capacity, TimeProvider clock)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _capacity = capacity;
        _clock = clock;
    }

    public int Count
    {
        get
        {
            lock (_lock)
                return _entries.Count;
        }
    }

    public bool TryGet(DnsCacheKey key, out object value)
    {
        var now = _clock.GetTimestamp();
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                if (now < node.Expires)
                {
                    MoveToNewest(node);
                    value = node.Value;
                    return true;
                }
                Remove(node);
            }
        }
        value = null!;
        return false;
    }

    public void Set(DnsCacheKey key, object value, TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero || _capacity == 0)
            return;
        var expires = _clock.GetTimestamp() + (long)(ttl.TotalSeconds * _clock.TimestampFrequency);
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                node.Value = value;
                node.Expires = expires;
                MoveToNewest(node);
                return;
            }
            while (_entries.Count >= _capacity && _oldest is not null)
                Remove(_oldest);
            node = new Node(key, value, expires);
            _entries.Add(key, node);
            Link(node);
        }
    }

    private void MoveToNewest(Node node)
    {
        if (node == _newest)
            return;
        Unlink(node);
        Link(node);
    }

    private void Remove(Node node)
    {
        Unlink(node);
        _entries.Remove(node.Key);
    }

    private void Link(Node node)
    {
        node.Older = _newest;
        node.Newer = null;
        if (_newest is not null)
            _newest.Newer = node;
        _newest = node;
        _oldest ??= node;
    }

    private void Unlink(Node node)
    {
        if (node.Older is not null)
            node.Older.Newer = node.Newer;
        else
            _oldest = node.Newer;
        if (node.Newer is not null)
            node.Newer.Older = node.Older;
        else
            _newest = node.Older;
        node.Older = node.Newer = null;
    }

    private sealed class Node(DnsCacheKey key, object value, long expires)
    {
        public DnsCacheKey Key { get; } = key;
        public object Value { get; set; } = value;
        public long Expires { get; set; } = expires;
        public Node? Older { get; set; }
        public Node? Newer { get; set; }
    }
}
