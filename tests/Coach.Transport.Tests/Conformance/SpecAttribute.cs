namespace Coach.Transport.Tests.Conformance;

/// <summary>
/// The statement of docs/protocol.md a conformance test checks: its section (a numbered rule such
/// as "§1.4", or a section such as "§4.7"), and the §6 reason codes and §3 frame types it observes
/// on the wire. <see cref="SpecCoverageTests"/> reads these to prove the suite covers the document.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
internal sealed class SpecAttribute(string section) : Attribute
{
    public string Section { get; } = section;

    public ushort[] Reasons { get; init; } = [];

    public byte[] Frames { get; init; } = [];
}
