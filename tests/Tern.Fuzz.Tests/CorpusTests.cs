namespace Tern.Fuzz.Tests;

/// <summary>
/// The fuzz targets as unit tests: every seed of a target's corpus, and every input kept under
/// crashes/ as a regression, must run through the target without an exception (a crash or a broken
/// invariant would be one), and every target must have seeds.
/// </summary>
public sealed class CorpusTests
{
    private static readonly string FuzzDirectory = FindFuzzDirectory();

    public static TheoryData<string> Targets()
    {
        var data = new TheoryData<string>();
        foreach (var t in FuzzTargets.All)
        {
            data.Add(t.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Corpus_is_not_empty(string target)
    {
        var dir = Path.Combine(FuzzDirectory, "corpus", target);
        Assert.True(Directory.Exists(dir), $"no corpus directory {dir}");
        Assert.NotEmpty(Directory.GetFiles(dir));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_corpus_and_crash_input_runs_clean(string target)
    {
        var entry = FuzzTargets.Find(target)!;
        var files = Inputs(target).ToList();
        Assert.NotEmpty(files);
        var failures = new List<string>();
        foreach (var file in files)
        {
            try
            {
                entry.Run(File.ReadAllBytes(file));
            }
            catch (Exception e)
            {
                // Any exception out of a target is a finding: collected so the report names every input.
                failures.Add($"{Path.GetRelativePath(FuzzDirectory, file)}: {e}");
            }
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public void Every_corpus_directory_belongs_to_a_target()
    {
        foreach (var dir in Directory.GetDirectories(Path.Combine(FuzzDirectory, "corpus")))
        {
            Assert.NotNull(FuzzTargets.Find(Path.GetFileName(dir)));
        }
    }

    private static IEnumerable<string> Inputs(string target)
    {
        foreach (var kind in new[] { "corpus", "crashes" })
        {
            var dir = Path.Combine(FuzzDirectory, kind, target);
            if (Directory.Exists(dir))
            {
                foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                {
                    yield return file;
                }
            }
        }
    }

    /// <summary>tests/Tern.Fuzz, found upwards from the test binary (source paths are not kept in CI builds).</summary>
    private static string FindFuzzDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Tern.Fuzz");
            if (Directory.Exists(Path.Combine(candidate, "corpus")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("tests/Tern.Fuzz/corpus not found above " + AppContext.BaseDirectory);
    }
}
