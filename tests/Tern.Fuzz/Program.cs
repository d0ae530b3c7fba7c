using SharpFuzz;
using Tern.Fuzz;

// Tern.Fuzz --list            the targets
// Tern.Fuzz TARGET            run TARGET under afl-fuzz (SharpFuzz's out-of-process fork server)
// Tern.Fuzz TARGET FILE...    run each input once and report (reproducing a crash, checking a corpus)
if (args.Length == 0 || args[0] is "--list" or "-l")
{
    foreach (var t in FuzzTargets.All)
    {
        Console.WriteLine(args.Length == 0 ? $"{t.Name,-16} {t.Description}" : t.Name);
    }

    return args.Length == 0 ? 2 : 0;
}

var target = FuzzTargets.Find(args[0]);
if (target is null)
{
    Console.Error.WriteLine($"unknown target \"{args[0]}\" (--list shows them)");
    return 2;
}

if (args.Length == 1)
{
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        target.Run(copy.GetBuffer().AsSpan(0, (int)copy.Length));
    });
    return 0;
}

var failures = 0;
foreach (var path in args.Skip(1).SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p) : [p]))
{
    try
    {
        target.Run(File.ReadAllBytes(path));
        Console.WriteLine($"ok    {path}");
    }
    catch (Exception e)
    {
        // A repro run reports everything: any exception out of a target is a finding.
        failures++;
        Console.WriteLine($"FAIL  {path}: {e}");
    }
}

return failures == 0 ? 0 : 1;
