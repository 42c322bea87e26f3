"""Clinic (held out, terser naming: abbreviations and ids): doctors, patients, appointments, prescriptions."""
import random
from datetime import timedelta

DDL = """
CREATE TABLE doctors (doctor_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, specialty TEXT NOT NULL, hourly_rate NUMERIC NOT NULL);
CREATE TABLE patients (patient_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, gender TEXT NOT NULL, birth_year INTEGER NOT NULL,
  insurance TEXT NOT NULL);
CREATE TABLE appointments (appt_id INTEGER PRIMARY KEY, patient_id INTEGER REFERENCES patients(patient_id),
  doctor_id INTEGER REFERENCES doctors(doctor_id), appt_date DATE NOT NULL, status TEXT NOT NULL, fee NUMERIC NOT NULL,
  duration_min INTEGER NOT NULL);
CREATE TABLE prescriptions (rx_id INTEGER PRIMARY KEY, appt_id INTEGER REFERENCES appointments(appt_id),
  drug TEXT NOT NULL, quantity INTEGER NOT NULL);
"""


def build(db, today):
    rng = random.Random(77)
    db.executescript(DDL)
    specs = ["Cardiology", "Dermatology", "Pediatrics", "Neurology"]
    db.executemany("INSERT INTO doctors VALUES (?,?,?,?)", [(i, f"Dr {i}", rng.choice(specs), rng.randrange(80, 300, 10)) for i in range(1, 13)])
    db.executemany("INSERT INTO patients VALUES (?,?,?,?,?)", [(i, f"Patient {i}", rng.choice(["female", "male"]), rng.randint(1940, 2020),
                                                              rng.choice(["public", "private", "none"])) for i in range(1, 151)])
    for i in range(1, 501):
        day = today - timedelta(days=int(rng.triangular(0, 400, 10)))
        db.execute("INSERT INTO appointments VALUES (?,?,?,?,?,?,?)", (i, rng.randint(1, 140), rng.randint(1, 12), day.isoformat(),
                                                                       rng.choice(["completed", "completed", "no-show", "cancelled"]),
                                                                       rng.randrange(40, 400, 5), rng.choice([15, 30, 45, 60])))
    drugs = ["Ibuprofen", "Amoxicillin", "Lisinopril", "Metformin"]
    db.executemany("INSERT INTO prescriptions VALUES (?,?,?,?)", [(i, rng.randint(1, 500), rng.choice(drugs), rng.randint(1, 60)) for i in range(1, 301)])


QUESTIONS = [
    ("How many patients do we have?", "SELECT COUNT(*) FROM patients"),
    ("How many appointments were no-shows?", "SELECT COUNT(*) FROM appointments WHERE status = 'no-show'"),
    ("Appointments per doctor specialty", "SELECT d.specialty, COUNT(*) FROM appointments a JOIN doctors d ON a.doctor_id = d.doctor_id GROUP BY d.specialty"),
    ("Total fees this month", "SELECT SUM(fee) FROM appointments WHERE appt_date >= '{this_month}' AND appt_date < '{next_month}'"),
    ("Average appointment duration", "SELECT AVG(duration_min) FROM appointments"),
    ("How many patients have private insurance?", "SELECT COUNT(*) FROM patients WHERE insurance = 'private'"),
    ("Which doctor has the most appointments?", "SELECT d.full_name, COUNT(*) c FROM appointments a JOIN doctors d ON a.doctor_id = d.doctor_id GROUP BY d.doctor_id, d.full_name ORDER BY c DESC LIMIT 1"),
    ("How many patients never had an appointment?", "SELECT COUNT(*) FROM patients p WHERE NOT EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = p.patient_id)"),
    ("Prescriptions per drug", "SELECT drug, COUNT(*) FROM prescriptions GROUP BY drug"),
    ("Total quantity of Ibuprofen prescribed", "SELECT SUM(quantity) FROM prescriptions WHERE drug = 'Ibuprofen'"),
    ("Appointments per month", "SELECT strftime('%Y-%m', appt_date), COUNT(*) FROM appointments GROUP BY 1"),
    ("How many cardiologists are there?", "SELECT COUNT(*) FROM doctors WHERE specialty = 'Cardiology'"),
    ("Fees by doctor", "SELECT d.full_name, SUM(a.fee) FROM appointments a JOIN doctors d ON a.doctor_id = d.doctor_id GROUP BY d.doctor_id, d.full_name"),
    ("Patients born before 1960", "SELECT * FROM patients WHERE birth_year < 1960"),
    ("Average fee per specialty", "SELECT d.specialty, AVG(a.fee) FROM appointments a JOIN doctors d ON a.doctor_id = d.doctor_id GROUP BY d.specialty"),
    ("How many appointments last month?", "SELECT COUNT(*) FROM appointments WHERE appt_date >= '{last_month}' AND appt_date < '{this_month}'"),
    ("Patients by gender", "SELECT gender, COUNT(*) FROM patients GROUP BY gender"),
    ("Highest hourly rate", "SELECT MAX(hourly_rate) FROM doctors"),
    ("Top 3 doctors by total fees", "SELECT d.full_name, SUM(a.fee) t FROM appointments a JOIN doctors d ON a.doctor_id = d.doctor_id GROUP BY d.doctor_id, d.full_name ORDER BY t DESC LIMIT 3"),
    ("How many completed appointments in Neurology?", "SELECT COUNT(*) FROM appointments a JOIN doctors d ON a.doctor_id = d.doctor_id WHERE a.status = 'completed' AND d.specialty = 'Neurology'"),
]
