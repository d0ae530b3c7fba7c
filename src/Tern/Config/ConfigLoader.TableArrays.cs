using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Syntax;

namespace Tern.Config;

public static partial class ConfigLoader
{
    /// <summary>
    /// The document as an untyped table. TOML lets the entries of an array of tables (<c>[[routes]]</c>)
    /// sit between other tables (TOML 1.0, "Array of Tables"), but Tomlyn's model (2.10 and 2.11) starts
    /// the array afresh at each <c>[[name]]</c> that follows another table, keeping only the last run of
    /// entries: routes written next to their transports were silently dropped. So when a root-level array's
    /// entries are interrupted, each entry (with its sub-tables) is read on its own and the array is
    /// rebuilt in document order. Every piece is the whole text with the other lines blanked, so line
    /// numbers in errors stay those of the file.
    /// </summary>
    private static TomlTable DeserializeModel(string text, DocumentSyntax document, TomlModelContext context)
    {
        var arrays = InterruptedTableArrays(document);
        if (arrays.Count == 0)
        {
            return TomlSerializer.Deserialize<TomlTable>(text, context) ?? new TomlTable();
        }

        var lines = text.Split('\n');
        var entryLines = new HashSet<int>();
        foreach (var (_, entries) in arrays)
        {
            foreach (var range in entries)
            {
                entryLines.UnionWith(range);
            }
        }

        var root = TomlSerializer.Deserialize<TomlTable>(Keep(lines, line => !entryLines.Contains(line)), context) ?? new TomlTable();
        foreach (var (name, entries) in arrays)
        {
            var array = new TomlTableArray();
            foreach (var range in entries)
            {
                var set = range.ToHashSet();
                var piece = TomlSerializer.Deserialize<TomlTable>(Keep(lines, set.Contains), context);
                if (piece is not null && piece.TryGetValue(name, out var value) && value is TomlTableArray one)
                {
                    foreach (var table in one)
                    {
                        array.Add(table);
                    }
                }
            }

            root[name] = array;
        }

        return root;
    }

    /// <summary>Root-level arrays of tables whose entries are interrupted by another table: for each, the lines of every entry (its header, keys and sub-tables).</summary>
    private static List<(string Name, List<List<int>> Entries)> InterruptedTableArrays(DocumentSyntax document)
    {
        var tables = document.Tables.ToList();
        var found = new List<(string, List<List<int>>)>();
        var names = tables.OfType<TableArraySyntax>().Where(t => (t.Name?.DotKeys?.ChildrenCount ?? 0) == 0).Select(RootName).Distinct(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var entries = new List<List<int>>();
            List<int>? current = null;
            var interrupted = false;
            foreach (var table in tables)
            {
                var tableName = table.Name?.ToString().Trim() ?? string.Empty;
                var isEntry = table is TableArraySyntax && (table.Name?.DotKeys?.ChildrenCount ?? 0) == 0 && RootName(table) == name;
                var isPart = !isEntry && current is not null && tableName.StartsWith(name + ".", StringComparison.Ordinal);
                if (isEntry)
                {
                    interrupted |= current is null && entries.Count > 0;
                    current = [];
                    entries.Add(current);
                }
                else if (!isPart)
                {
                    current = null;
                    continue;
                }

                for (var line = table.Span.Start.Line; line <= table.Span.End.Line; line++)
                {
                    current!.Add(line);
                }
            }

            if (interrupted)
            {
                found.Add((name, entries));
            }
        }

        return found;
    }

    private static string RootName(TableSyntaxBase table) =>
        (table.Name?.Key?.ToString() ?? string.Empty).Trim().Trim('"', '\'');

    /// <summary>The text with every line not kept blanked (its line break stays, so line numbers do not move).</summary>
    private static string Keep(string[] lines, Func<int, bool> keep)
    {
        var kept = new string[lines.Length];
        for (var i = 0; i < lines.Length; i++)
        {
            kept[i] = keep(i) ? lines[i] : string.Empty;
        }

        return string.Join('\n', kept);
    }
}
