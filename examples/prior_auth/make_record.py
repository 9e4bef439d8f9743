"""Write the synthetic prior-authorization record used by ``make demo``.

Everything here is invented for this project: the patient, clinicians, payer, dates and
numbers. The record is a request for adalimumab for rheumatoid arthritis, 40 pages of the
kind a payer receives (fax cover, request form, visit notes, labs, imaging, pharmacy
claims, correspondence, and the unrelated pages that always come along), plus 8 coverage
criteria with the pages that hold their evidence.

    python examples/prior_auth/make_record.py   # rewrites record.txt and criteria.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

PATIENT = "Marisol T. Okafor"
DOB = "03/14/1979"
MEMBER = "NHP-448120937"
RHEUM = "Daniel R. Whitcombe, MD (Rheumatology)"
PCP = "Priya Anand, DO (Family Medicine)"
CLINIC = "Lakeshore Arthritis & Rheumatology Associates"


def header(title: str, date: str) -> str:
    return f"{title}\nPatient: {PATIENT}   DOB: {DOB}   Member ID: {MEMBER}\nDate: {date}\n"


PAGES: list[str] = [
    # 1
    header("FAX COVER SHEET", "09/02/2026")
    + f"""To: Northern Health Plan, Pharmacy Prior Authorization Unit
Fax: (555) 014-2290
From: {CLINIC}, attn. prior authorization coordinator
Pages (including cover): 40
Re: Prior authorization request, adalimumab (Humira or biosimilar) 40 mg
Urgent: No
CONFIDENTIALITY NOTICE: This facsimile contains protected health information. If you
received it in error, notify the sender and destroy all copies.""",
    # 2
    header("PRIOR AUTHORIZATION REQUEST FORM - SPECIALTY PHARMACY", "09/02/2026")
    + f"""Section A - Member: {PATIENT}, female, plan Northern Health Plan Gold PPO.
Section B - Prescriber: {RHEUM}. NPI 1487720391. Specialty: Rheumatology, board certified.
Office phone (555) 014-7781. Address: 2200 Lakeshore Drive, Suite 410.
Section C - Medication requested: adalimumab-adaz 40 mg/0.4 mL prefilled pen.
Dose and frequency: 40 mg subcutaneously every other week. Quantity: 2 pens per 28 days.
Duration requested: 12 months. Route: subcutaneous injection, self-administered.
Section D - Diagnosis: Rheumatoid arthritis, seropositive, multiple sites (ICD-10 M05.79).""",
    # 3
    header("PRIOR AUTHORIZATION REQUEST FORM (continued)", "09/02/2026")
    + """Section E - Previous therapies (drug, dates, outcome):
1. Methotrexate oral, titrated to 20 mg weekly with folic acid; 11/2025 to 06/2026;
   inadequate response after more than 6 months at target dose.
2. Hydroxychloroquine 200 mg twice daily; 2024; stopped for rash.
3. Sulfasalazine; not started, see intolerance history in attached notes.
Section F - Is the patient currently receiving the requested drug? No.
Section G - Attestation: I attest the information provided is accurate and supported
by the enclosed medical records.
Signature: Daniel R. Whitcombe, MD   Date: 09/02/2026""",
    # 4
    header("MEMBER ELIGIBILITY VERIFICATION", "08/29/2026")
    + """Coverage status: Active. Plan: Gold PPO, group 77120. Effective 01/01/2026.
Pharmacy benefit manager: ScriptWell. Specialty tier copay: 20% coinsurance, max $250.
Deductible met year to date: $1,150 of $1,500. Out-of-pocket met: $2,310 of $6,000.
Coordination of benefits: none on file. Verified by: front desk, reference 88231-B.""",
    # 5
    header("NEW PATIENT CONSULTATION - RHEUMATOLOGY", "10/21/2025")
    + f"""Referring physician: {PCP}.
Chief complaint: eight months of bilateral hand and wrist pain with morning stiffness
lasting two hours. History of present illness: symmetric swelling of the MCP and PIP
joints of both hands, both wrists and the left knee. Fatigue. No psoriasis, no
inflammatory bowel disease, no recent infection.
Examination: synovitis of 2nd-4th MCP joints bilaterally, both wrists, 3rd PIP right.
Tender joint count 12, swollen joint count 9.
Assessment: Seropositive rheumatoid arthritis, newly diagnosed, high disease activity.
The diagnosis meets 2010 ACR/EULAR classification criteria (score 9/10): more than 10
joints involved including small joints, high-positive RF and anti-CCP, elevated CRP and
ESR, symptoms longer than six weeks.
Plan: start methotrexate 15 mg weekly with folic acid 1 mg daily, increase to 20 mg.
Baseline labs and hand radiographs ordered. Counselled on alcohol avoidance.
{RHEUM}""",
    # 6
    header("LABORATORY REPORT - SEROLOGY", "10/21/2025")
    + """Rheumatoid factor (RF)          142 IU/mL     (ref < 14)      HIGH
Anti-cyclic citrullinated peptide 250 U/mL     (ref < 20)      HIGH
C-reactive protein (CRP)        31 mg/L       (ref < 5)       HIGH
Erythrocyte sedimentation rate  48 mm/h       (ref 0-20)      HIGH
Antinuclear antibody            negative
Uric acid                       4.9 mg/dL     (ref 2.5-7.0)
Specimen: serum. Performed at Regional Reference Laboratory, CLIA 22D0988123.""",
    # 7
    header("RADIOLOGY REPORT - BILATERAL HANDS, 3 VIEWS", "10/28/2025")
    + """Indication: inflammatory arthritis.
Findings: periarticular osteopenia at the MCP joints. Early marginal erosion at the
right 2nd metacarpal head. Mild joint space narrowing of the 2nd and 3rd MCP joints
bilaterally. Soft tissue swelling about both wrists. No fracture. No chondrocalcinosis.
Impression: findings compatible with rheumatoid arthritis with early erosive change.
Electronically signed: M. Feldstein, MD, Radiology.""",
    # 8
    header("LABORATORY REPORT - BASELINE SAFETY", "10/21/2025")
    + """Complete blood count: WBC 8.2, hemoglobin 11.9 (L), platelets 402 (H).
Comprehensive metabolic panel: creatinine 0.7, eGFR > 90, ALT 18, AST 21, albumin 4.1.
Lipid panel: total cholesterol 188, LDL 112, HDL 54, triglycerides 109.
Hemoglobin A1c 5.4%. Urinalysis unremarkable.""",
    # 9
    header("PROGRESS NOTE - RHEUMATOLOGY FOLLOW-UP", "01/13/2026")
    + """Interval history: on methotrexate 20 mg weekly since December with folic acid. Mild
nausea the day after dosing, otherwise tolerating. Morning stiffness down to 60 minutes.
Exam: tender joints 8, swollen joints 6.
CDAI 27 (high disease activity). Patient global 6/10, evaluator global 5/10.
Plan: continue methotrexate 20 mg weekly, switch to subcutaneous if nausea persists.
Add sulfasalazine? Patient reports a prior severe reaction to sulfa antibiotics
(trimethoprim-sulfamethoxazole in 2019: diffuse urticaria and facial swelling requiring
emergency care). Sulfasalazine is contraindicated given this documented sulfonamide
allergy; will not prescribe. Leflunomide discussed; patient is planning pregnancy within
two years, so leflunomide is not appropriate. Repeat labs in 6 weeks.""",
    # 10
    header("ALLERGY LIST", "01/13/2026")
    + """Sulfonamide antibiotics (trimethoprim-sulfamethoxazole): urticaria, angioedema, 2019,
severity high; emergency department visit documented.
Hydroxychloroquine: maculopapular rash, 2024, severity moderate.
Latex: none. Food allergies: none known. Environmental: seasonal pollen.""",
    # 11
    header("EMERGENCY DEPARTMENT RECORD (outside records, 2019)", "06/07/2019")
    + """Presenting complaint: facial swelling and hives 2 days after starting
trimethoprim-sulfamethoxazole for a urinary tract infection.
Findings: diffuse urticaria, lip and periorbital angioedema, no stridor.
Treatment: diphenhydramine, methylprednisolone 125 mg IV, famotidine. Observed 6 hours.
Diagnosis: drug allergy to sulfonamide antibiotic with angioedema.
Discharge instructions: avoid all sulfa drugs; allergy added to record.""",
    # 12
    header("PROGRESS NOTE - RHEUMATOLOGY FOLLOW-UP", "03/24/2026")
    + """Methotrexate changed to 20 mg subcutaneous weekly in February for nausea. Adherent,
missed no doses per patient and injection log.
Exam: tender joints 7, swollen joints 6. CRP 19 mg/L.
DAS28-CRP 5.1 (high disease activity). CDAI 24.
Assessment: persistent active rheumatoid arthritis despite methotrexate at target dose
for more than 3 months. Plan: continue methotrexate; if no response by June, escalate
to a biologic (TNF inhibitor). Begin pre-biologic screening.""",
    # 13
    header("LABORATORY REPORT - TUBERCULOSIS SCREENING", "04/02/2026")
    + """Test: QuantiFERON-TB Gold Plus (interferon-gamma release assay).
Result: NEGATIVE.
TB1 antigen minus nil: 0.02 IU/mL. TB2 antigen minus nil: 0.01 IU/mL. Mitogen minus
nil: > 10 IU/mL (valid). Nil: 0.05 IU/mL.
Interpretation: M. tuberculosis infection unlikely. Collected 04/02/2026.""",
    # 14
    header("LABORATORY REPORT - HEPATITIS PANEL", "04/02/2026")
    + """Hepatitis B surface antigen (HBsAg): non-reactive.
Hepatitis B core antibody, total (anti-HBc): non-reactive.
Hepatitis B surface antibody (anti-HBs): 84 mIU/mL, immune (vaccinated).
Hepatitis C antibody: non-reactive.
Interpretation: no evidence of current or past hepatitis B infection; immune by vaccine.""",
    # 15
    header("RADIOLOGY REPORT - CHEST, 2 VIEWS", "04/02/2026")
    + """Indication: screening prior to immunosuppressive therapy.
Findings: lungs clear. No nodules, cavitation, or hilar adenopathy. No pleural effusion.
Heart size normal. No calcified granulomas.
Impression: normal chest radiograph; no radiographic evidence of prior or active TB.""",
    # 16
    header("PROGRESS NOTE - RHEUMATOLOGY FOLLOW-UP", "06/16/2026")
    + """Seven months of methotrexate, at 20 mg weekly (subcutaneous since February).
Despite full adherence, persistent synovitis. Tender joints 9, swollen joints 7.
DAS28-CRP 5.3; CDAI 26; HAQ-DI 1.5. CRP 22 mg/L. New erosion at the left ulnar styloid on
repeat radiographs.
Assessment: methotrexate failure - inadequate response to an adequate trial (more than 6
months at 20 mg weekly). Sulfasalazine contraindicated (sulfonamide angioedema);
leflunomide not appropriate (planning pregnancy); hydroxychloroquine previously stopped
for rash. Screening complete: QuantiFERON negative 04/02/2026, hepatitis B negative,
chest X-ray normal.
Plan: request prior authorization for adalimumab 40 mg every other week, continue
methotrexate 20 mg weekly in combination.""",
    # 17
    header("RADIOLOGY REPORT - BILATERAL HANDS AND WRISTS", "06/10/2026")
    + """Comparison: 10/28/2025.
Findings: interval development of an erosion at the left ulnar styloid. The right 2nd
metacarpal head erosion is slightly larger. Progressive joint space narrowing at the
bilateral 2nd and 3rd MCP joints.
Impression: radiographic progression of erosive rheumatoid arthritis.""",
    # 18
    header("PHARMACY CLAIMS HISTORY (ScriptWell)", "08/28/2026")
    + """Fill date   Drug                                     Qty   Days  Pharmacy
11/03/2025  methotrexate 2.5 mg tablets               24    28    Lakeshore Rx
12/01/2025  methotrexate 2.5 mg tablets               32    28    Lakeshore Rx
12/29/2025  methotrexate 2.5 mg tablets               32    28    Lakeshore Rx
01/26/2026  methotrexate 2.5 mg tablets               32    28    Lakeshore Rx
02/20/2026  methotrexate 25 mg/mL injection vial      2 mL  28    Lakeshore Rx
03/19/2026  methotrexate 25 mg/mL injection vial      2 mL  28    Lakeshore Rx
04/16/2026  methotrexate 25 mg/mL injection vial      2 mL  28    Lakeshore Rx
05/14/2026  methotrexate 25 mg/mL injection vial      2 mL  28    Lakeshore Rx
06/11/2026  methotrexate 25 mg/mL injection vial      2 mL  28    Lakeshore Rx
Monthly folic acid 1 mg fills over the same period. No gaps in therapy over 30 days.""",
    # 19
    header("PHARMACY CLAIMS HISTORY (continued)", "08/28/2026")
    + """03/02/2024  hydroxychloroquine 200 mg tablets        60    30    Lakeshore Rx
04/01/2024  hydroxychloroquine 200 mg tablets        60    30    Lakeshore Rx
Other fills 2025-2026: levonorgestrel IUD (medical benefit), cetirizine 10 mg,
ibuprofen 600 mg, omeprazole 20 mg, vitamin D3 2000 IU.""",
    # 20
    header("LETTER OF MEDICAL NECESSITY", "09/01/2026")
    + f"""To whom it may concern:
I am writing on behalf of my patient, {PATIENT}, to request coverage of adalimumab 40 mg
every other week for seropositive erosive rheumatoid arthritis. She has high disease
activity (DAS28-CRP 5.3, CDAI 26) with radiographic progression despite more than six
months of methotrexate at 20 mg weekly. She cannot take sulfasalazine because of a
documented sulfonamide allergy with angioedema, and leflunomide is inappropriate because
she plans a pregnancy. Hydroxychloroquine caused a rash. Tuberculosis screening
(QuantiFERON-TB Gold Plus) was negative on 04/02/2026 and she has no hepatitis B infection.
A TNF inhibitor is the standard next step under ACR guidance. Please approve.
Sincerely, {RHEUM}""",
    # 21
    header("PATIENT QUESTIONNAIRE - RAPID3", "06/16/2026")
    + """Function (FN) 5.3/10, pain 7/10, patient global estimate 6.5/10. RAPID3 18.8 (high
severity). Morning stiffness 90 minutes. Difficulty opening jars, turning faucets,
walking two miles. Sleep disturbed by hand pain three nights a week.""",
    # 22
    header("PRIMARY CARE VISIT NOTE", "07/08/2026")
    + f"""Reason: annual physical. {PCP}.
Blood pressure 118/74, BMI 24.1. Immunizations: influenza vaccine given today;
recombinant zoster vaccine dose 1 given (recommended before biologic therapy);
pneumococcal conjugate vaccine PCV20 given. Tdap up to date (2022).
Cervical cancer screening up to date. Mammogram ordered.
Rheumatoid arthritis managed by rheumatology; discussed planned biologic therapy.""",
    # 23
    header("PHYSICAL THERAPY EVALUATION", "05/05/2026")
    + """Referral: hand therapy for rheumatoid arthritis.
Grip strength: right 14 kg, left 16 kg (reduced). Pinch strength reduced bilaterally.
Plan: joint protection education, paraffin, resting wrist splints at night,
6 visits over 6 weeks.""",
    # 24
    header("PHYSICAL THERAPY DISCHARGE SUMMARY", "06/19/2026")
    + """Attended 6 of 6 visits. Independent with home exercise program and joint protection
techniques. Splints fitted. Functional gains limited by ongoing synovitis.""",
    # 25
    header("DERMATOLOGY VISIT NOTE", "05/20/2026")
    + """Reason: mole check. Several benign-appearing nevi on the back. One irregular nevus
on the left shoulder, shave biopsy performed. Sunscreen counselling.
Pathology (05/27/2026): compound nevus with mild atypia, margins clear. No further
treatment; annual skin examination recommended, especially if immunosuppressed.""",
    # 26
    header("DENTAL OFFICE CORRESPONDENCE", "02/11/2026")
    + """Routine cleaning completed. Two small occlusal caries restored with composite.
Note: patient on methotrexate; no change to dental plan. Next recall in 6 months.""",
    # 27
    header("OPHTHALMOLOGY NOTE", "03/30/2024")
    + """Baseline retinal examination for hydroxychloroquine: normal fundus, normal
visual fields 10-2, normal SD-OCT. Repeat screening in 5 years if therapy continues.""",
    # 28
    header("PROGRESS NOTE - RHEUMATOLOGY (2024, outside practice)", "05/02/2024")
    + """Prior evaluation of arthralgia. Started hydroxychloroquine in March 2024 for
suspected inflammatory arthritis. Developed pruritic maculopapular rash on trunk after
6 weeks; hydroxychloroquine discontinued. Labs at that time: RF 38, anti-CCP pending.
Patient relocated; care transferred.""",
    # 29
    header("LABORATORY REPORT - METHOTREXATE MONITORING", "02/24/2026")
    + """CBC: WBC 7.1, hemoglobin 12.3, platelets 330. ALT 29, AST 27, albumin 4.2,
creatinine 0.7. Results within monitoring limits for methotrexate therapy.""",
    # 30
    header("LABORATORY REPORT - METHOTREXATE MONITORING", "05/26/2026")
    + """CBC: WBC 6.8, hemoglobin 12.6, platelets 310. ALT 34, AST 30, albumin 4.1,
creatinine 0.8. CRP 22 mg/L (high). ESR 41 mm/h (high).""",
    # 31
    header("INJECTION TRAINING RECORD", "02/20/2026")
    + """Patient trained in subcutaneous self-injection of methotrexate using a 25 mg/mL vial
and syringe. Demonstrated correct technique, site rotation, sharps disposal.""",
    # 32
    header("PATIENT PORTAL MESSAGE", "06/30/2026")
    + """Patient: "Is the new medicine safe if I want to get pregnant later?"
Reply (RN): "Dr. Whitcombe will review this at your next visit; TNF inhibitors such as
adalimumab are often continued in pregnancy planning, unlike leflunomide." """,
    # 33
    header("BILLING STATEMENT", "07/15/2026")
    + """Statement period 06/01/2026 - 06/30/2026.
Office visit, established patient, level 4 (99214): $212.00; insurance paid $168.40.
Hand radiographs, 3 views (73130): $96.00; insurance paid $71.10.
Patient responsibility: $68.50. Payment due 08/14/2026. Pay online or by phone.""",
    # 34
    header("BILLING STATEMENT", "04/15/2026")
    + """Statement period 03/01/2026 - 03/31/2026.
Office visit, established patient (99214): $212.00; insurance paid $168.40.
Venipuncture (36415): $18.00; insurance paid $12.60.
Patient responsibility: $49.00. Thank you for your payment.""",
    # 35
    header("HIPAA AUTHORIZATION FOR RELEASE OF INFORMATION", "08/20/2026")
    + """I authorize Lakeshore Arthritis & Rheumatology Associates to release my medical
records to Northern Health Plan for the purpose of a prior authorization review.
This authorization expires one year from signature. I may revoke it in writing.
Signature on file.""",
    # 36
    header("APPOINTMENT REMINDER", "08/25/2026")
    + """Your next appointment: 09/15/2026 at 10:40 AM with Dr. Whitcombe.
Please arrive 15 minutes early and bring your medication list and insurance card.
To reschedule, call (555) 014-7781 at least 24 hours in advance.""",
    # 37
    header("SPECIALTY PHARMACY ENROLLMENT FORM", "09/02/2026")
    + """Medication: adalimumab-adaz 40 mg/0.4 mL pen. Sig: inject 40 mg under the skin
every 14 days. Dispense 2 pens, refills 11. Ship to patient home address.
Nurse injection training requested at first fill. Copay assistance: patient enrolled.""",
    # 38
    header("PAYER CORRESPONDENCE - REQUEST FOR INFORMATION", "08/31/2026")
    + """Northern Health Plan received a preliminary request for adalimumab. To complete
review under policy RX-217 (Targeted Immunomodulators), please send: chart notes showing
diagnosis and disease activity, history of conventional DMARD therapy with dates and
outcomes, tuberculosis screening within 12 months, hepatitis B screening, and the
prescriber's specialty. Incomplete requests may be denied.""",
    # 39
    header("NUTRITION COUNSELLING NOTE", "04/18/2026")
    + """Mediterranean-style diet discussed for cardiovascular risk reduction in rheumatoid
arthritis. Omega-3 sources reviewed. Alcohol: none while on methotrexate. Follow up as
needed.""",
    # 40
    header("PROGRESS NOTE - RHEUMATOLOGY TELEPHONE ENCOUNTER", "08/27/2026")
    + """Patient called about flare: increased swelling of both wrists, morning stiffness 2
hours. Prednisone 10 mg daily for 7 days prescribed as a bridge while awaiting
prior authorization for adalimumab. Continue methotrexate 20 mg weekly.""",
]

# Each criterion lists the pages (0-based) that carry its evidence.
CRITERIA = [
    {
        "id": "diagnosis",
        "criterion": "Is there a documented diagnosis of moderate to severe rheumatoid arthritis?",
        "relevant_pages": [4, 5, 6, 11, 15, 19],
    },
    {
        "id": "mtx_failure",
        "criterion": "Is there documentation of an inadequate response or failed trial of at "
        "least 3 months of methotrexate?",
        "relevant_pages": [2, 11, 15, 17, 19],
    },
    {
        "id": "second_dmard",
        "criterion": "Is a contraindication or intolerance to another conventional DMARD such "
        "as sulfasalazine or leflunomide documented?",
        "relevant_pages": [2, 8, 9, 10, 15, 19, 27],
    },
    {
        "id": "tb_screening",
        "criterion": "Was tuberculosis screening (TB skin test or interferon-gamma release "
        "assay) negative within the last 12 months?",
        "relevant_pages": [12, 14, 15, 19],
    },
    {
        "id": "hbv_screening",
        "criterion": "Is a hepatitis B screening result documented before starting therapy?",
        "relevant_pages": [13, 15, 19],
    },
    {
        "id": "disease_activity",
        "criterion": "Is disease activity measured with a validated score such as DAS28 or "
        "CDAI showing moderate or high activity?",
        "relevant_pages": [8, 11, 15, 19, 20],
    },
    {
        "id": "prescriber",
        "criterion": "Is the medication prescribed by or in consultation with a rheumatologist?",
        "relevant_pages": [1, 4, 19],
    },
    {
        "id": "dosing",
        "criterion": "Is the requested dose and frequency of adalimumab consistent with "
        "labeled dosing of 40 mg every other week?",
        "relevant_pages": [1, 15, 19, 36],
    },
]


def main() -> None:
    assert len(PAGES) == 40, len(PAGES)
    text = "\n\n".join(f"--- Page {n} ---\n{page.strip()}" for n, page in enumerate(PAGES, 1))
    (HERE / "record.txt").write_text(text + "\n", encoding="utf-8")
    with (HERE / "criteria.jsonl").open("w", encoding="utf-8") as out:
        for c in CRITERIA:
            out.write(json.dumps(c) + "\n")
    print(f"wrote {len(PAGES)} pages and {len(CRITERIA)} criteria to {HERE}")


if __name__ == "__main__":
    main()
