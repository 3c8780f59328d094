using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// The conformance suite covers docs/protocol.md: every numbered rule of §1 is cited by a test, and
/// every reason code of §6 and every frame type of §3 is observed on the wire by one.
/// </summary>
public sealed partial class SpecCoverageTests
{
    private static readonly string Spec = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "protocol.md"));

    /// <summary>The citations of every conformance test class.</summary>
    private static IEnumerable<SpecAttribute> Citations =>
    [
        .. Of<FramingConformanceTests>(), .. Of<HandshakeConformanceTests>(), .. Of<RequestConformanceTests>(),
        .. Of<SlowCloudConformanceTests>(), .. Of<ShutdownConformanceTests>(), .. Of<AuthenticationTimingTests>(),
        .. Of<EdgeRestartConformanceTests>(), .. Of<EdgeProcessConformanceTests>(), .. Of<OverloadedCloudConformanceTests>(),
    ];

    private static IEnumerable<SpecAttribute> Of<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods)] T>() =>
        typeof(T).GetMethods(BindingFlags.Public | BindingFlags.Instance).Select(m => m.GetCustomAttribute<SpecAttribute>()).OfType<SpecAttribute>();

    [Fact]
    public void EveryReasonCodeOfSection6IsObservedByAConformanceTest()
    {
        string section = Section("## 6.", "## 7.");
        int[] codes = [.. CodeInTable().Matches(section).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.True(codes.Length >= 30, $"§6 lists only {codes.Length} codes: the table was not read");
        var covered = Citations.SelectMany(c => c.Reasons).Select(r => (int)r).ToHashSet();
        Assert.DoesNotContain(codes, c => !covered.Contains(c));
    }

    [Fact]
    public void EveryFrameTypeOfSection3IsObservedByAConformanceTest()
    {
        string section = Section("## 3.", "## 4.");
        int[] types = [.. FrameTypeRow().Matches(section).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17], types);
        var covered = Citations.SelectMany(c => c.Frames).Select(f => (int)f).ToHashSet();
        covered.UnionWith(Citations.SelectMany(c => c.Reasons).Select(r => r switch { >= 100 and < 200 => 6, >= 200 and < 300 => 3, _ => 0 }));
        Assert.DoesNotContain(types, t => !covered.Contains(t));

        // The reserved range 18–31 is answered UnknownFrameType in version 1.
        Assert.Contains(Citations, c => c.Section == "§3" && c.Reasons.Contains((ushort)105));
    }

    [Fact]
    public void EveryNumberedRuleOfSection1IsCitedByAConformanceTest()
    {
        string section = Section("## 1.", "## 2.");
        string[] rules = [.. NumberedRule().Matches(section).Select(m => $"§1.{m.Groups[1].Value}")];
        Assert.True(rules.Length >= 8, $"§1 has {rules.Length} numbered rules: the list was not read");
        var cited = Citations.Select(c => c.Section).ToHashSet();
        // §1.0 (TLS) is checked by the TLS tests over real sockets (TlsTests), not by a raw-protocol client.
        Assert.DoesNotContain(rules, r => r != "§1.0" && !cited.Contains(r));
    }

    private static string Section(string start, string end)
    {
        int from = Spec.IndexOf(start, StringComparison.Ordinal);
        int to = Spec.IndexOf(end, from + 1, StringComparison.Ordinal);
        Assert.True(from >= 0 && to > from, $"docs/protocol.md has no section between '{start}' and '{end}'");
        return Spec[from..to];
    }

    private static string RepositoryRoot()
    {
        DirectoryInfo? dir = new(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Coach.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new DirectoryNotFoundException("no Coach.sln above the test assembly");
    }

    [GeneratedRegex(@"\b([1-3]\d\d) [A-Z][A-Za-z]+")]
    private static partial Regex CodeInTable();

    [GeneratedRegex(@"^\| [A-Za-z]+ \| (\d+) \|", RegexOptions.Multiline)]
    private static partial Regex FrameTypeRow();

    [GeneratedRegex(@"^(\d)\. ", RegexOptions.Multiline)]
    private static partial Regex NumberedRule();
}
