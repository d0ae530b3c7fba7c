using System.Globalization;

namespace Tern.Load.Send;

/// <summary>
/// A weighted choice from the command line (<c>--size 1k:70,10k:25,100k:5</c>,
/// <c>--rcpt-domains example.test:3,other.test:1</c>): each item once in <see cref="Items"/>, and a
/// lookup table where item i appears weight(i) times, so a pick is one array index (no arithmetic,
/// no allocation per message) and the proportions are exact over any multiple of the table length.
/// </summary>
internal sealed class Weighted<T>
{
    /// <summary>Larger total weights are shrunk by their common divisor; past this they are refused (a typo).</summary>
    private const int MaxTable = 10_000;

    private readonly int[] _table;

    private Weighted(T[] items, int[] weights, int[] table)
    {
        Items = items;
        Weights = weights;
        _table = table;
    }

    public T[] Items { get; }

    public int[] Weights { get; }

    /// <summary>The item for a well-mixed number (see <see cref="Mix"/>).</summary>
    public int Pick(ulong mixed) => _table[(int)(mixed % (ulong)_table.Length)];

    /// <summary>SplitMix64: spreads sequence numbers so consecutive messages get unrelated picks.</summary>
    public static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>
    /// Parses <c>item[:weight],...</c> (weight 1 when left out). <paramref name="parseItem"/> returns
    /// null and sets its error for a bad item. False with <paramref name="error"/> on any mistake.
    /// </summary>
    public static bool TryParse(string? text, string what, TryParseItem parseItem, out Weighted<T>? result, out string error)
    {
        result = null;
        error = string.Empty;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = $"empty {what}";
            return false;
        }

        var items = new List<T>();
        var weights = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var colon = part.LastIndexOf(':');
            var itemText = colon < 0 ? part : part[..colon];
            var weight = 1;
            if (colon >= 0 && (!int.TryParse(part[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out weight) || weight < 1 || weight > MaxTable))
            {
                error = $"bad {what} \"{text}\": weight in \"{part}\" must be a whole number from 1 to {MaxTable}";
                return false;
            }

            if (!parseItem(itemText, out var item, out var itemError))
            {
                error = $"bad {what} \"{text}\": {itemError}";
                return false;
            }

            items.Add(item);
            weights.Add(weight);
        }

        var gcd = weights.Aggregate(Gcd);
        var total = weights.Sum(w => (long)(w / gcd));
        if (total > MaxTable)
        {
            error = $"bad {what} \"{text}\": the weights add up to more than {MaxTable}";
            return false;
        }

        var table = new int[total];
        var at = 0;
        for (var i = 0; i < weights.Count; i++)
        {
            for (var n = 0; n < weights[i] / gcd; n++)
            {
                table[at++] = i;
            }
        }

        result = new Weighted<T>([.. items], [.. weights], table);
        return true;
    }

    /// <summary>The spec back as text, as the report shows it.</summary>
    public string Describe(Func<T, string> format) =>
        string.Join(',', Items.Select((item, i) => Items.Length == 1 ? format(item) : $"{format(item)}:{Weights[i]}"));

    public delegate bool TryParseItem(string text, out T item, out string error);

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }
}
