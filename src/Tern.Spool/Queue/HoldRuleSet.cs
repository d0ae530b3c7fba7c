using System.Text;

namespace Tern.Spool.Queue;

/// <summary>The hold rules and the global pause: an immutable snapshot, replaced as a whole.</summary>
internal sealed class HoldRuleSet
{
    public static readonly HoldRuleSet Empty = new(false, 1, []);

    public HoldRuleSet(bool paused, long nextId, IReadOnlyList<HoldRule> rules)
    {
        Paused = paused;
        NextId = nextId;
        Rules = rules;
    }

    public bool Paused { get; }

    public long NextId { get; }

    public IReadOnlyList<HoldRule> Rules { get; }

    public void Write(ref RecordWriter w)
    {
        w.U8(Paused ? (byte)1 : (byte)0);
        w.I64(NextId);
        w.U32((uint)Rules.Count);
        foreach (var r in Rules)
        {
            w.I64(r.Id);
            w.Str(r.SenderDomain);
            w.Str(r.RecipientDomain);
            w.Str(r.Account);
        }
    }

    public static HoldRuleSet Read(ReadOnlySpan<byte> payload)
    {
        var r = new RecordReader(payload, 0);
        var paused = r.U8() != 0;
        var next = r.I64();
        var count = (int)r.U32();
        var rules = new List<HoldRule>(count);
        for (var i = 0; i < count; i++)
        {
            rules.Add(new HoldRule
            {
                Id = r.I64(),
                SenderDomain = Encoding.UTF8.GetString(r.Str()),
                RecipientDomain = Encoding.UTF8.GetString(r.Str()),
                Account = Encoding.UTF8.GetString(r.Str()),
            });
        }

        return new HoldRuleSet(paused, next, rules);
    }

    /// <summary>The first rule matching a message being accepted (spans from its envelope builder), or null.</summary>
    public HoldRule? Match(EnvelopeBuilder envelope)
    {
        foreach (var rule in Rules)
        {
            if (Matches(rule, envelope))
            {
                return rule;
            }
        }

        return null;
    }

    public static bool Matches(HoldRule rule, QueueEntry entry)
    {
        if (rule.Account.Length > 0 && !string.Equals(rule.Account, entry.Envelope.AuthenticatedUser, StringComparison.Ordinal))
        {
            return false;
        }

        if (rule.SenderDomain.Length > 0 && !DomainMatches(rule.SenderDomain, entry.SenderDomain))
        {
            return false;
        }

        return rule.RecipientDomain.Length == 0 || entry.Recipients.Any(r => DomainMatches(rule.RecipientDomain, r.Domain));
    }

    /// <summary>"example.com" matches exactly (case-insensitive); ".example.com" also matches its subdomains.</summary>
    public static bool DomainMatches(string pattern, ReadOnlySpan<char> domain)
    {
        if (pattern.StartsWith('.'))
        {
            return domain.Equals(pattern.AsSpan(1), StringComparison.OrdinalIgnoreCase) || domain.EndsWith(pattern, StringComparison.OrdinalIgnoreCase);
        }

        return domain.Equals(pattern, StringComparison.OrdinalIgnoreCase);
    }

    private static bool Matches(HoldRule rule, EnvelopeBuilder e)
    {
        Span<char> chars = stackalloc char[256];
        if (rule.Account.Length > 0 && !Utf8Equals(e.AuthenticatedUser, rule.Account, chars))
        {
            return false;
        }

        if (rule.SenderDomain.Length > 0 && !DomainMatches(rule.SenderDomain, Domain(e.Sender, chars)))
        {
            return false;
        }

        if (rule.RecipientDomain.Length == 0)
        {
            return true;
        }

        for (var i = 0; i < e.RecipientCount; i++)
        {
            if (DomainMatches(rule.RecipientDomain, Domain(e.Recipient(i), chars)))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Utf8Equals(ReadOnlySpan<byte> utf8, string text, Span<char> scratch) =>
        Encoding.UTF8.TryGetChars(utf8, scratch, out var n) && scratch[..n].SequenceEqual(text);

    private static ReadOnlySpan<char> Domain(ReadOnlySpan<byte> address, Span<char> scratch)
    {
        var at = address.LastIndexOf((byte)'@');
        return at >= 0 && Encoding.UTF8.TryGetChars(address[(at + 1)..], scratch, out var n) ? scratch[..n] : [];
    }
}
